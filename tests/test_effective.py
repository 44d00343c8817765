"""Effective sparsity: weights that are still there but dead (pruneinterp.effective)."""

import pytest
import torch
from torch import nn

from pruneinterp.effective import dead_weights, effective_sparsity
from pruneinterp.models import build_model
from pruneinterp.pruning import following_batchnorm, prune_masks, select_layers


def _randomise(model):
    """Random BatchNorm statistics and affine parameters (a trained network's are not 1/0)."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=gen))
                m.bias.copy_(torch.randn(m.num_features, generator=gen))
    return model.eval()


class Sequential(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 5, 3, padding=1, bias=False), nn.BatchNorm2d(5)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(5, 2)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class Residual(nn.Module):
    """stem -> (conv1, bn1, relu, conv2, bn2) + skip -> relu -> conv3 -> pool -> fc"""

    def __init__(self):
        super().__init__()
        self.conv0, self.bn0 = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv1, self.bn1 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 2, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(2, 2)

    def forward(self, x):
        h = self.relu(self.bn0(self.conv0(x)))
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(h)))))
        out = self.relu(out + h)
        return self.fc(torch.flatten(self.pool(self.conv3(out)), 1))


def _ones(model):
    return {f"{n}.weight": torch.ones_like(m.weight, dtype=torch.bool) for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))}


def _remove_output_channel(model, masks, conv, channel, batchnorm=True):
    """Structured pruning of one output channel: the conv's filter and (as pruneinterp does) the
    following BatchNorm's scale and shift."""
    masks[f"{conv}.weight"][channel] = False
    if batchnorm:
        bn = conv.replace("conv", "bn")
        n = getattr(model, bn).num_features
        for p in ("weight", "bias"):
            masks.setdefault(f"{bn}.{p}", torch.ones(n, dtype=torch.bool))[channel] = False


def _apply(model, masks):
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, mask in masks.items():
            params[key].mul_(mask.to(params[key].dtype))


def _dead_weights_do_not_change_the_output(model, masks, dead):
    """Changing every dead weight leaves the output exactly as it was; changing live ones does not."""
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    before = model(x)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, d in dead.items():
            params[key][d] = torch.randn(int(d.sum()), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(model(x), before, atol=1e-6, rtol=0)
    with torch.no_grad():
        for key, d in dead.items():
            live = masks.get(key, torch.ones_like(d)) & ~d
            params[key][live] += 1.0
    assert not torch.allclose(model(x), before, atol=1e-3)


def test_a_removed_output_channel_makes_the_next_convs_input_weights_dead():
    model = _randomise(Sequential())
    masks = _ones(model)
    _remove_output_channel(model, masks, "conv1", 1)
    _apply(model, masks)
    dead = dead_weights(model, masks)
    # conv2 reads channel 1 with 5 filters x 3 x 3 weights: exactly those 45 are dead
    assert int(dead["conv2.weight"].sum()) == 45 and dead["conv2.weight"][:, 1].all()
    assert int(dead["conv1.weight"].sum()) == 0 and int(dead["fc.weight"].sum()) == 0
    eff = effective_sparsity(model, masks, select_layers(model))
    assert (eff.masked, eff.dead, eff.total) == (27, 45, 108 + 180 + 10)
    assert eff.fraction == pytest.approx((27 + 45) / 298)
    assert eff.layer_fraction()["conv2.weight"] == pytest.approx(45 / 180)
    _dead_weights_do_not_change_the_output(model, masks, dead)


def test_a_removed_channel_whose_batchnorm_is_kept_is_a_bias_not_dead():
    """Conv filter masked, BatchNorm not: the channel is the constant beta - mean * gamma / sd != 0,
    which the next layer still reads."""
    model = _randomise(Sequential())
    masks = _ones(model)
    _remove_output_channel(model, masks, "conv1", 1, batchnorm=False)
    _apply(model, masks)
    assert all(int(d.sum()) == 0 for d in dead_weights(model, masks).values())


def test_removed_input_channels_make_the_producing_filter_dead_and_chains_reach_the_classifier():
    model = _randomise(Sequential())
    masks = _ones(model)
    masks["conv2.weight"][:, 2] = False  # connection pruning: nobody reads conv1's channel 2
    _remove_output_channel(model, masks, "conv2", 3)  # conv2's channel 3 is 0 after pooling: fc reads 0
    _apply(model, masks)
    dead = dead_weights(model, masks)
    assert int(dead["conv1.weight"].sum()) == 27 and dead["conv1.weight"][2].all()
    assert int(dead["fc.weight"].sum()) == 2 and dead["fc.weight"][:, 3].all()
    assert int(dead["conv2.weight"].sum()) == 0  # what is masked is not also counted as dead
    eff = effective_sparsity(model, masks, {"conv2": model.conv2, "fc": model.fc})  # conv1 not prunable
    assert (eff.masked, eff.dead, eff.total) == (5 * 9 + 3 * 9, 2, 180 + 10)  # column 2 and row 3 overlap
    _dead_weights_do_not_change_the_output(model, masks, dead)


def test_a_channel_removed_in_a_residual_branch_is_alive_through_the_skip_path():
    model = _randomise(Residual())
    masks = _ones(model)
    _remove_output_channel(model, masks, "conv2", 2)
    _apply(model, masks)
    assert all(int(d.sum()) == 0 for d in dead_weights(model, masks).values())
    # the skip path's channel 2 removed too: the sum is 0 there, so conv3 reads 0; conv1 reads the
    # stem's zero channel 2
    model = _randomise(Residual())
    masks = _ones(model)
    _remove_output_channel(model, masks, "conv2", 2)
    _remove_output_channel(model, masks, "conv0", 2)
    _apply(model, masks)
    dead = dead_weights(model, masks)
    assert int(dead["conv1.weight"].sum()) == 4 * 9 and dead["conv1.weight"][:, 2].all()
    assert int(dead["conv3.weight"].sum()) == 2 * 9 and dead["conv3.weight"][:, 2].all()
    assert int(dead["conv2.weight"].sum()) == 0 and int(dead["conv0.weight"].sum()) == 0
    _dead_weights_do_not_change_the_output(model, masks, dead)


def test_a_sum_channel_nobody_reads_kills_both_branches_producers_unless_read_elsewhere():
    model = _randomise(Residual())
    masks = _ones(model)
    masks["conv3.weight"][:, 1] = False  # the sum's channel 1 is not read
    _apply(model, masks)
    dead = dead_weights(model, masks)
    # the branch's conv2 filter 1 only feeds the sum: dead; the stem's filter 1 also feeds conv1: alive
    assert int(dead["conv2.weight"].sum()) == 4 * 9 and dead["conv2.weight"][1].all()
    assert int(dead["conv0.weight"].sum()) == 0 and int(dead["conv1.weight"].sum()) == 0
    _dead_weights_do_not_change_the_output(model, masks, dead)


@pytest.mark.parametrize("arch, kwargs", [("convnet", {"width": 4}), ("resnet18", {"small_input": True})])
@pytest.mark.parametrize("method", ["structured_l1", "connection_l1", "magnitude_global"])
def test_effective_sparsity_of_pruned_models(arch, kwargs, method):
    torch.manual_seed(0)
    model = _randomise(build_model(arch, num_classes=10, **kwargs))
    layers = select_layers(model)
    masks = prune_masks(method, model, 0.5, layers, {})
    _apply(model, masks)
    eff = effective_sparsity(model, masks, layers)
    nominal = eff.masked / eff.total
    assert eff.fraction >= nominal
    if method == "magnitude_global":  # unstructured: no whole channel goes at 50%
        assert eff.dead == 0
    else:
        assert eff.fraction > nominal + 0.05, (arch, method, nominal, eff.fraction)
    if method == "structured_l1" and arch == "convnet":
        assert following_batchnorm(model, "features.conv2.conv") is not None
        # every removed conv2 channel is zero: conv3 reads it with all its 3x3 weights
        removed = (~masks["features.conv2.conv.weight"].flatten(1).any(1)).nonzero().flatten()
        dead = dead_weights(model, masks)["features.conv3.conv.weight"]
        alive_out = masks["features.conv3.conv.weight"].flatten(1).any(1)
        assert dead[:, removed][alive_out].all() and int(dead.sum()) == int(alive_out.sum()) * len(removed) * 9
    _dead_weights_do_not_change_the_output(model, masks, dead_weights(model, masks))


def test_sparsity_table_has_the_effective_sparsity_of_every_run(tmp_path):
    import pandas as pd

    from pruneinterp import columns, tables
    from pruneinterp.io import save_checkpoint

    torch.manual_seed(0)
    model = _randomise(build_model("convnet", num_classes=10, width=4))
    exclude = ["features.conv1.conv"]
    layers = select_layers(model, exclude=exclude)
    dense = {k: v.clone() for k, v in model.state_dict().items()}
    masks = prune_masks("structured_l1", model, 0.5, layers, {})
    model.load_state_dict(dense)
    _apply(model, masks)
    paths, runs = [], []
    for level, m, state in ((0, {}, dense), (1, masks, model.state_dict())):
        paths.append(str(tmp_path / f"level{level}.pt"))
        save_checkpoint(paths[-1], {"model": "convnet", "model_kwargs": {"num_classes": 10, "width": 4},
                                    "state_dict": state, "masks": m})
        runs.append({"study": "s", "model": "convnet", "seed": 0, "method": "structured_l1", "schedule": "oneshot",
                     "retrain": "none", "level": level})
    table = tables.sparsity_table(paths, runs, str(tmp_path / "sparsity.csv"), exclude=exclude)
    assert list(pd.read_csv(tmp_path / "sparsity.csv").columns) == columns.SPARSITY
    rows = table.set_index(["level", "scope", "name"])["effective_sparsity"]
    eff = effective_sparsity(model, masks, layers)
    assert rows[(1, "prunable", "prunable weights")] == pytest.approx(eff.fraction)
    nominal = table[(table["level"] == 1) & (table["scope"] == "prunable")]["fraction_removed"].item()
    assert rows[(1, "prunable", "prunable weights")] > nominal + 0.05
    for name, value in eff.layer_fraction().items():
        assert rows[(1, "layer", name)] == pytest.approx(value)
    # the dense model: nothing masked, nothing dead; the all-parameters row has no effective value
    assert rows[(0, "prunable", "prunable weights")] == 0.0
    assert rows.xs("all", level="scope").isna().all()
