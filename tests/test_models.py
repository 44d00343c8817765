import pytest
import torch

from pruneinterp.models import build_model, prunable_layers, unit_layer
from pruneinterp.pruning import global_magnitude, select_layers


def _unit_output(model, layer, x):
    out = {}
    handle = unit_layer(model, layer).register_forward_hook(lambda m, i, o: out.setdefault("a", o))
    logits = model(x)
    handle.remove()
    return logits, out["a"]


def test_convnet_layers_have_stable_names_and_shapes():
    net = build_model("convnet", widths=[4, 4, 8, 16]).eval()
    assert list(prunable_layers(net)) == [f"features.conv{i}.conv" for i in range(1, 5)] + ["fc"]
    logits, a = _unit_output(net, "conv4", torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 10) and a.shape == (2, 16, 8, 8)
    assert (a >= 0).all(), "units are post-ReLU"


def test_small_resnet_blocks_are_torchvisions():
    """The block defined in pruneinterp (to spare non-training jobs torchvision's import) is
    torchvision's BasicBlock: with torchvision's pieces the same seed gives the same state dict, key
    for key, and the same outputs, also in training mode and with a projection shortcut."""
    from torchvision.models.resnet import BasicBlock, conv1x1

    import pruneinterp.models as models

    kwargs = {"widths": [4, 8, 8, 8], "strides": [1, 2, 2, 1], "blocks": [1, 2, 1, 1]}
    torch.manual_seed(3)
    ours = build_model("resnet", **kwargs)
    torch.manual_seed(3)
    theirs = build_model("resnet", **kwargs, _block=(BasicBlock, conv1x1))
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(4, 3, 32, 32)
    for mode in (True, False):
        ours.train(mode), theirs.train(mode)
        assert torch.equal(ours(x), theirs(x))
    assert sum(isinstance(m, models.BasicBlock) for m in ours.modules()) == 5


def test_building_the_small_resnet_does_not_import_torchvision():
    import subprocess
    import sys

    code = ("import sys; from pruneinterp.models import build_model; build_model('resnet'); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_small_resnet_uses_torchvision_blocks_and_names():
    from pruneinterp.models import BasicBlock, fieldmap

    net = build_model("resnet", num_classes=10).eval()
    assert isinstance(net.layer4[0], BasicBlock) and net.layer4[0].downsample is None  # identity shortcut
    assert net.layer3[0].downsample is not None  # 32 -> 64 channels, stride 2: torchvision's 1x1 shortcut
    names = list(prunable_layers(net))
    assert names[0] == "conv1" and names[-1] == "fc" and "layer4.0.conv2" in names
    logits, a = _unit_output(net, "layer4", torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 10) and a.shape == (2, 64, 4, 4) and (a >= 0).all()
    weights = {n: m.weight.numel() for n, m in prunable_layers(net).items()}
    assert sum(weights.values()) == 432 + 2 * 2304 + (4608 + 9216 + 512) + (18432 + 36864 + 2048) + 2 * 36864 + 640
    # receptive field of a layer4 unit: stem 3, pool, 2 convs per block at strides 2, 2, 4, 4, 8, 8, 8 px
    (_, size, step) = fieldmap(net, "layer4")
    assert step == (8, 8) and size[0] > 32
    with pytest.raises(ValueError, match="4 positive integers"):
        build_model("resnet", widths=[8, 8, 8])


def test_small_resnet_layer4_keeps_its_skip_path_when_its_convs_are_pruned_away():
    """The issue with the plain conv net: global pruning can leave the dissected layer's units with no
    inputs. With an identity shortcut, layer4's units still see layer3 when both of layer4's convs are
    fully masked."""
    torch.manual_seed(0)
    net = build_model("resnet").eval()
    with torch.no_grad():
        net.layer4[0].conv1.weight.zero_()
        net.layer4[0].conv2.weight.zero_()
    _, a = _unit_output(net, "layer4", torch.rand(8, 3, 32, 32))
    per_unit_range = (a.amax((0, 2, 3)) - a.amin((0, 2, 3)))
    assert (per_unit_range > 0).float().mean() > 0.5  # most units still vary with the input


def test_resnet_adapter_for_small_inputs():
    net = build_model("resnet18", num_classes=10, small_input=True).eval()
    logits, a = _unit_output(net, "layer4", torch.zeros(1, 3, 32, 32))
    assert logits.shape == (1, 10) and a.shape == (1, 512, 4, 4)
    layers = select_layers(net)
    assert "conv1" in layers and "fc" in layers
    masks = global_magnitude(net, 0.2, layers, {})
    total = sum(m.numel() for m in masks.values())
    assert total - sum(int(m.sum()) for m in masks.values()) == round(0.2 * total)


def test_unknown_model_and_layer_name_the_allowed_values():
    with pytest.raises(ValueError, match="allowed: convnet, googlenet, resnet, resnet18, resnet34, resnet50, vgg16_bn"):
        build_model("vgg99")
    with pytest.raises(ValueError, match="conv4"):
        unit_layer(build_model("convnet", width=4), "conv9")


def test_receptive_field_maps_compose_as_netdissect():
    from pruneinterp.models import compose_fieldmap, fieldmap

    net = build_model("convnet", width=4)
    # conv 3x3 pad 1 -> (-1, 3, 1); + max-pool 2 -> (-1, 4, 2); + conv -> (-3, 8, 2); + pool, conv -> ...
    assert fieldmap(net, "conv1") == ((-1, -1), (3, 3), (1, 1))
    assert fieldmap(net, "conv2") == ((-3, -3), (8, 8), (2, 2))
    assert fieldmap(net, "conv4") == ((-11, -11), (26, 26), (4, 4))
    assert fieldmap(net, "fc") is None  # after global pooling
    assert compose_fieldmap(((-1, -1), (3, 3), (1, 1)), ((0, 0), (2, 2), (2, 2))) == ((-1, -1), (4, 4), (2, 2))
    # ResNet-18 at 224 px: stem conv 7x7/2 pad 3, max-pool 3x3/2 pad 1, then 3x3 convs; the residual
    # sum takes the main path (the larger field); layer4 units are 32 px apart, centred at 0, 32, ...
    r = build_model("resnet18", num_classes=10)
    (o, s, t) = fieldmap(r, "layer4")
    assert t == (32, 32) and s[0] // 2 + o[0] == 0 and s == (435, 435)


def test_the_configs_architecture_table_matches_the_models():
    """pruneinterp.architectures (what the dry run checks the config against, without torch) lists
    exactly each model's constructor arguments and unit layers."""
    import inspect

    from pruneinterp.architectures import KWARGS, UNIT_LAYERS
    from pruneinterp.models import MODELS

    assert set(KWARGS) == set(UNIT_LAYERS) == set(MODELS)
    for arch, build in MODELS.items():
        params = [p for p in inspect.signature(build).parameters if p != "num_classes" and not p.startswith("_")]
        assert sorted(params) == sorted(KWARGS[arch]), arch
    for arch in ("convnet", "resnet"):  # the torchvision ones carry the same attribute (set in their builder)
        assert tuple(MODELS[arch].unit_layers) == UNIT_LAYERS[arch]
    net = build_model("resnet18", num_classes=3, small_input=True)
    assert tuple(net.unit_layers) == UNIT_LAYERS["resnet18"]


@pytest.mark.parametrize("arch, kwargs, size", [("googlenet", {}, 224), ("resnet34", {"small_input": True}, 32),
                                                ("vgg16_bn", {"small_input": True}, 32)])
def test_paper_models_take_a_training_step_and_expose_their_units(arch, kwargs, size):
    """The papers' networks (von Rad & Seuffert's GoogLeNet, Blakeney's ResNet-34 and VGG-16) train
    through the project's loop with masks, and every unit layer the config may name exists."""
    from pruneinterp.architectures import UNIT_LAYERS
    from pruneinterp.models import unit_layer
    from pruneinterp.pruning import METHODS, select_layers
    from pruneinterp.training import Normalizer, TrainConfig, train

    torch.manual_seed(0)
    net = build_model(arch, num_classes=10, **kwargs)
    assert tuple(net.unit_layers) == UNIT_LAYERS[arch]
    for name in UNIT_LAYERS[arch]:
        unit_layer(net, name)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, size, size, 3), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (4,), generator=g)
    masks = METHODS["magnitude_global"](net, 0.5, select_layers(net, None, [net.unit_layers["fc"]]), {})
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = train(net, {"train": (x, y)}, TrainConfig(epochs=1, batch_size=4, lr=0.01, precision="fp32"), 0,
                Normalizer.fit(x.numpy()), masks=masks)
    assert [m["split"] for m in res.metrics] == ["train_running"]
    state = net.state_dict()
    for key, mask in masks.items():
        assert (state[key][~mask] == 0).all() and not torch.equal(state[key][mask], before[key][mask])
