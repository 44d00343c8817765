import pytest
import torch

from pruneinterp.models import build_model
from pruneinterp.pruning import (METHODS, attach_masks, clean_state_dict, detach_masks, global_magnitude,
                                 prune_masks, select_layers, sparsity)


def _net(seed=0, widths=(4, 4, 8, 8)):
    torch.manual_seed(seed)
    return build_model("convnet", widths=list(widths))


def _weights(masks):
    return {k: v for k, v in masks.items() if k.endswith("conv.weight") or k == "fc.weight"}


def test_global_magnitude_prunes_exactly_twenty_percent_of_remaining_per_level():
    net = _net()
    total = sum(m.weight.numel() for m in select_layers(net).values())
    masks, remaining = {}, total
    for level in range(1, 6):
        new = global_magnitude(net, 0.2, select_layers(net), masks)
        kept = sum(int(m.sum()) for m in new.values())
        assert kept == remaining - round(0.2 * remaining), f"level {level}"
        for key, m in masks.items():  # nested: once pruned, always pruned
            assert not (new[key] & ~m).any()
        remaining, masks = kept, new
        assert sparsity(net, masks, select_layers(net)).prunable_remaining == kept


def test_global_magnitude_removes_the_smallest_weights_with_one_threshold():
    net = _net(1)
    layers = select_layers(net)
    weights = {n: m.weight.detach().abs().clone() for n, m in layers.items()}
    masks = global_magnitude(net, 0.3, layers, {})
    kept = torch.cat([weights[n].flatten()[masks[f"{n}.weight"].flatten()] for n in layers])
    gone = torch.cat([weights[n].flatten()[~masks[f"{n}.weight"].flatten()] for n in layers])
    assert gone.max() <= kept.min()


@pytest.mark.parametrize("method", ["magnitude_layerwise", "random_layerwise"])
def test_layerwise_methods_prune_the_same_fraction_in_every_layer(method):
    net = _net()
    layers = select_layers(net)
    masks = {}
    for _ in range(3):
        before = {n: int(masks.get(f"{n}.weight", torch.ones_like(m.weight, dtype=torch.bool)).sum())
                  for n, m in layers.items()}
        masks = prune_masks(method, net, 0.2, layers, masks, seed=0)
        for n in layers:
            assert int(masks[f"{n}.weight"].sum()) == before[n] - round(0.2 * before[n])


@pytest.mark.parametrize("method, dim", [("structured_l1", 0), ("structured_l2", 0), ("random_structured", 0),
                                         ("connection_l1", 1), ("random_connection", 1)])
def test_structured_and_connection_masks_remove_whole_channels(method, dim):
    net = _net()
    layers = select_layers(net)
    masks = prune_masks(method, net, 0.5, layers, {}, seed=3)
    for n, module in layers.items():
        key = f"{n}.weight"
        if dim == 0 and n == "fc":
            assert key not in masks, "the classifier's outputs are the classes: never removed"
            continue
        m = masks[key]
        other = [d for d in range(m.ndim) if d != dim]
        per_channel = m.float().mean(dim=other)
        assert set(per_channel.unique().tolist()) <= {0.0, 1.0}, "channels are all-or-nothing"
        assert int((per_channel == 0).sum()) == round(0.5 * m.shape[dim])
        if dim == 0:  # the BatchNorm of a removed channel is masked too: the channel is silent
            bn = n.rsplit(".", 1)[0] + ".bn"
            assert torch.equal(masks[f"{bn}.weight"], per_channel > 0)
            assert torch.equal(masks[f"{bn}.bias"], per_channel > 0)
    if dim == 0:
        net.eval()
        attach_masks(net, masks)
        out = {}
        net.features.conv1.register_forward_hook(lambda mod, i, o: out.setdefault("a", o))
        net(torch.randn(2, 3, 32, 32))
        dead = ~masks["features.conv1.bn.weight"]
        assert (out["a"][:, dead] == 0).all()


@pytest.mark.parametrize("method", ["random_global", "random_layerwise", "random_structured", "random_connection"])
def test_random_methods_match_per_layer_counts_and_depend_on_the_seed(method):
    base = {"random_global": "magnitude_global", "random_layerwise": "magnitude_layerwise",
            "random_structured": "structured_l1", "random_connection": "connection_l1"}[method]
    ref = _weights(prune_masks(base, _net(), 0.4, select_layers(_net()), {}))
    a = _weights(prune_masks(method, _net(), 0.4, select_layers(_net()), {}, seed=1))
    b = _weights(prune_masks(method, _net(), 0.4, select_layers(_net()), {}, seed=2))
    a2 = _weights(prune_masks(method, _net(), 0.4, select_layers(_net()), {}, seed=1))
    assert {k: int(v.sum()) for k, v in a.items()} == {k: int(v.sum()) for k, v in ref.items()}
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(a[k], a2[k]) for k in a)
    assert any(not torch.equal(a[k], ref[k]) for k in a)


def test_include_exclude_and_unknown_layer_or_method():
    net = _net()
    masks = global_magnitude(net, 0.5, select_layers(net, exclude=["fc"]), {})
    assert "fc.weight" not in masks
    with pytest.raises(ValueError, match="unknown prunable layer 'nope'"):
        select_layers(net, include=["nope"])
    with pytest.raises(ValueError, match="allowed: magnitude_global"):
        prune_masks("magic", net, 0.5, select_layers(net), {})
    assert "connection_l1" in METHODS


def test_attached_masks_zero_the_weights_in_forward_and_state():
    net = _net()
    masks = global_magnitude(net, 0.5, select_layers(net), {})
    attach_masks(net, masks)
    state = clean_state_dict(net)
    modules = dict(net.named_modules())
    for key, m in masks.items():
        assert (state[key][~m] == 0).all()
        assert (modules[key.rsplit(".", 1)[0]].weight[~m] == 0).all()
    assert set(detach_masks(net)) == set(masks)
