import pytest
import torch

from pruneinterp.models import build_model
from pruneinterp.pruning import attach_masks, clean_state_dict, global_magnitude, select_layers, sparsity


def test_global_magnitude_prunes_exactly_twenty_percent_of_remaining_per_level():
    torch.manual_seed(0)
    net = build_model("convnet", width=4)
    layers = select_layers(net)
    total = sum(m.weight.numel() for m in layers.values())
    masks, remaining = {}, total
    for level in range(1, 6):
        new = global_magnitude(net, 0.2, select_layers(net), masks)
        expected_removed = round(0.2 * remaining)
        kept = sum(int(m.sum()) for m in new.values())
        assert kept == remaining - expected_removed, f"level {level}"
        for name, m in masks.items():  # nested: once pruned, always pruned
            assert not (new[name] & ~m).any()
        remaining, masks = kept, new
        assert sparsity(net, masks, select_layers(net)).prunable_remaining == kept


def test_global_magnitude_removes_the_smallest_weights_with_one_threshold():
    torch.manual_seed(1)
    net = build_model("convnet", width=4)
    layers = select_layers(net)
    masks = global_magnitude(net, 0.3, layers, {})
    kept = torch.cat([layers[n].weight.detach().abs().flatten()[masks[n].flatten()] for n in layers])
    gone = torch.cat([layers[n].weight.detach().abs().flatten()[~masks[n].flatten()] for n in layers])
    assert gone.max() <= kept.min()


def test_include_exclude_and_unknown_layer():
    net = build_model("convnet", width=4)
    layers = select_layers(net, exclude=["fc"])
    masks = global_magnitude(net, 0.5, layers, {})
    assert "fc" not in masks
    with pytest.raises(ValueError, match="unknown prunable layer 'nope'"):
        select_layers(net, include=["nope"])


def test_attached_masks_zero_the_weights_in_forward_and_state():
    net = build_model("convnet", width=4)
    masks = global_magnitude(net, 0.5, select_layers(net), {})
    attach_masks(net, masks)
    state = clean_state_dict(net)
    for name, m in masks.items():
        assert (state[f"{name}.weight"][~m] == 0).all()
        assert (dict(net.named_modules())[name].weight[~m] == 0).all()
