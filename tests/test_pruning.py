import pytest
import torch

from pruneinterp.models import build_model
from pruneinterp.pruning import (METHODS, STRUCTURE_DIM, attach_masks, clean_state_dict, derive_seed, detach_masks,
                                 global_magnitude, prune_masks, random_mask_like, select_layers, sparsity)


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


def test_layer_scale_prunes_the_classifier_at_half_the_rate_outside_the_global_pool():
    net = _net()
    layers = select_layers(net)
    masks = prune_masks("magnitude_global", net, 0.4, layers, {}, layer_scale={"fc": 0.5})
    fc = layers["fc"].weight
    assert int((~masks["fc.weight"]).sum()) == round(0.2 * fc.numel())
    convs = [n for n in layers if n != "fc"]
    conv_total = sum(layers[n].weight.numel() for n in convs)
    assert sum(int((~masks[f"{n}.weight"]).sum()) for n in convs) == round(0.4 * conv_total)
    with pytest.raises(ValueError, match="layer_scale names 'nope'"):
        prune_masks("magnitude_global", _net(), 0.4, select_layers(_net()), {}, layer_scale={"nope": 0.5})


def test_sparsity_reports_prunable_and_all_parameters_per_layer():
    net = _net()
    layers = select_layers(net, exclude=["fc"])
    masks = prune_masks("structured_l1", net, 0.5, layers, {})
    sp = sparsity(net, masks, layers)
    per_layer = {name: (total, remaining) for name, total, remaining in sp.layers}
    assert set(per_layer) == {f"{n}.weight" for n in layers}
    assert per_layer["features.conv1.conv.weight"] == (4 * 3 * 9, 2 * 3 * 9)
    assert sp.prunable_total == sum(t for t, _ in per_layer.values())
    assert sp.prunable_remaining == sum(r for _, r in per_layer.values())
    n_params = sum(p.numel() for p in net.parameters())
    bn_removed = sum(int((~m).sum()) for k, m in masks.items() if ".bn." in k)
    assert bn_removed == 2 * (2 + 2 + 4 + 4)  # scale and shift of half the channels of each block
    assert sp.params_total == n_params
    assert sp.params_remaining == n_params - (sp.prunable_total - sp.prunable_remaining) - bn_removed
    assert sp.params_fraction_removed < sp.prunable_fraction_removed


@pytest.mark.parametrize("method", ["magnitude_global", "structured_l1", "connection_l1"])
def test_random_mask_like_keeps_per_layer_counts_and_structure(method):
    net = _net()
    layers = select_layers(net)
    masks = prune_masks(method, net, 0.5, layers, {})
    dim = STRUCTURE_DIM.get(method)
    a = random_mask_like(masks, net, layers, seed=1, dim=dim)
    b = random_mask_like(masks, net, layers, seed=2, dim=dim)
    assert set(a) == set(masks)
    for key, m in masks.items():
        assert int(a[key].sum()) == int(m.sum()), key
    assert any(not torch.equal(a[k], masks[k]) for k in a)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(x, y) for x, y in zip(a.values(), random_mask_like(masks, net, layers, 1, dim).values()))
    if dim is not None:
        for key, m in a.items():
            if key.endswith("conv.weight"):
                other = [d for d in range(m.ndim) if d != dim]
                kept = m.sum(dim=other)
                assert ((kept == 0) | (kept == m.numel() // m.shape[dim])).all(), key  # whole channels only
        if dim == 0:
            w = a["features.conv2.conv.weight"].flatten(1).any(1)
            assert torch.equal(a["features.conv2.bn.weight"], w) and torch.equal(a["features.conv2.bn.bias"], w)


def test_derived_seeds_are_deterministic_and_distinct():
    assert derive_seed(0, "reinit", 3) == derive_seed(0, "reinit", 3)
    assert len({derive_seed(s, tag, lv) for s in (0, 1) for tag in ("reinit", "prune") for lv in (1, 2)}) == 8
    assert 0 <= derive_seed(7, "x") < 2 ** 31


def test_masked_context_enforces_masks_and_leaves_plain_zeroed_parameters():
    from pruneinterp.pruning import masked

    net = _net()
    layers = select_layers(net)
    masks = prune_masks("magnitude_global", net, 0.5, layers, {})
    key = next(iter(_weights(masks)))
    module = dict(net.named_modules())[key.rsplit(".", 1)[0]]
    with masked(net, masks):
        assert hasattr(module, "weight_orig") and hasattr(module, "weight_mask")
        with torch.no_grad():
            module.weight_orig.add_(1.0)  # what the optimiser would change
        assert (module.weight[~masks[key]] == 0).all()
    assert not hasattr(module, "weight_orig") and isinstance(module.weight, torch.nn.Parameter)
    assert (module.weight[~masks[key]] == 0).all() and (module.weight[masks[key]] != 0).any()
    with pytest.raises(RuntimeError, match="boom"):
        with masked(net, masks):
            raise RuntimeError("boom")
    assert not any(name.endswith("_orig") for name, _ in net.named_parameters())  # detached on error too
