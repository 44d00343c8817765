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
    with pytest.raises(ValueError, match="allowed: convnet, resnet18, resnet50"):
        build_model("vgg99")
    with pytest.raises(ValueError, match="conv4"):
        unit_layer(build_model("convnet", width=4), "conv9")
