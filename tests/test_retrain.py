"""Every retraining strategy with every pruning method: masks enforced, weights from the right place."""

import pandas as pd
import pytest
import torch

from conftest import train_tiny_dense
from pruneinterp import stages
from pruneinterp.io import load_checkpoint
from pruneinterp.pruning import METHODS, STRUCTURE_DIM

CFG = dict(epochs=2, batch_size=32, lr=0.05, warmup_iterations=0, precision="fp32")
FINETUNE = {"epochs": 2, "sgd": {"lr": 0.01, "momentum": 0.9, "gamma": 0.9}, "adam": {"lr": 0.001, "gamma": 0.9}}
IDENT = {"study": "t", "method": "m", "schedule": "oneshot", "retrain": "r"}


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    d = tmp_path_factory.mktemp("retrain")
    return d, train_tiny_dense(d, 64, 32, CFG, 2)


def _retrain(d, out, mask, strategy, tmp_path, cfg=CFG):
    outs = {"checkpoint": str(tmp_path / f"{strategy}.pt"), "metrics": str(tmp_path / f"{strategy}.csv")}
    stages.retrain(mask, str(d / "train.npz"), str(d / "val.npz"), outs, strategy, cfg, 0, IDENT,
                   rewind_path=out["rewind"], finetune=FINETUNE)
    return load_checkpoint(outs["checkpoint"]), pd.read_csv(outs["metrics"])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_masked_weights_are_exactly_zero_after_every_strategy(dense, tmp_path, method):
    d, out = dense
    mask = str(tmp_path / "pruned.pt")
    stages.prune(out["checkpoint"], mask, method, 0.5, seed=0)
    for strategy in stages.RETRAIN_STRATEGIES:
        ckpt, metrics = _retrain(d, out, mask, strategy, tmp_path)
        state, masks = ckpt["state_dict"], ckpt["masks"]
        assert masks and set(masks) >= {k for k in load_checkpoint(mask)["masks"] if k.endswith("conv.weight")}
        for key, m in masks.items():
            assert (state[key][~m] == 0).all(), (method, strategy, key)
        if strategy != "none":
            assert any(not torch.equal(state[k][m], load_checkpoint(mask)["state_dict"][k][m])
                       for k, m in masks.items() if k.endswith("conv.weight")), (method, strategy)
        assert metrics["epoch"].max() == (0 if strategy == "none" else CFG["epochs"] if strategy in (
            "rewind", "reinit", "random_reinit") else FINETUNE["epochs"])
        assert metrics["sparsity"].iloc[0] == pytest.approx(ckpt["sparsity"]["prunable_fraction_removed"])


def test_reinit_and_random_sparse_init_do_not_reuse_trained_weights(dense, tmp_path):
    """With a learning rate of ~0 the weights after training are the starting weights: they must be
    fresh — neither the trained weights nor the dense run's initial or rewind weights."""
    d, out = dense
    mask = str(tmp_path / "pruned.pt")
    stages.prune(out["checkpoint"], mask, "magnitude_layerwise", 0.6, seed=0)
    pruned = load_checkpoint(mask)
    frozen = {**CFG, "lr": 1e-30, "weight_decay": 0.0}
    sources = {k: load_checkpoint(out[k])["state_dict"] for k in ("init", "rewind", "checkpoint")}
    for strategy in ("reinit", "random_reinit"):
        ckpt, _ = _retrain(d, out, mask, strategy, tmp_path, frozen)
        for key, m in ckpt["masks"].items():
            w = ckpt["state_dict"][key][m]
            assert (w != 0).all()
            for name, src in sources.items():
                overlap = (ckpt["state_dict"][key] == src[key]) & m
                assert not overlap.any(), (strategy, name, key)
        same_mask = all(torch.equal(ckpt["masks"][k], pruned["masks"][k]) for k in pruned["masks"])
        assert same_mask == (strategy == "reinit")
        for key, m in pruned["masks"].items():  # same per-layer counts either way
            assert int(ckpt["masks"][key].sum()) == int(m.sum())


def test_finetune_starts_from_the_pruned_network_and_none_evaluates_it(dense, tmp_path):
    d, out = dense
    mask = str(tmp_path / "pruned.pt")
    stages.prune(out["checkpoint"], mask, "magnitude_global", 0.7)
    _, none = _retrain(d, out, mask, "none", tmp_path)
    assert list(none["split"]) == ["val"] and list(none["epoch"]) == [0]
    for strategy in ("finetune_sgd", "finetune_adam"):
        _, ft = _retrain(d, out, mask, strategy, tmp_path)
        start = ft[(ft["epoch"] == 0) & (ft["split"] == "val")]
        assert start["top1"].item() == none["top1"].item() and start["loss"].item() == pytest.approx(
            none["loss"].item(), rel=1e-6)
        assert sorted(ft.loc[ft["split"] == "val", "epoch"]) == list(range(FINETUNE["epochs"] + 1))


def test_rewind_needs_its_checkpoint_and_unknown_strategy_is_named(dense, tmp_path):
    d, out = dense
    mask = str(tmp_path / "pruned.pt")
    stages.prune(out["checkpoint"], mask, "magnitude_global", 0.5)
    outs = {"checkpoint": str(tmp_path / "c.pt"), "metrics": str(tmp_path / "m.csv")}
    with pytest.raises(ValueError, match="rewind checkpoint"):
        stages.retrain(mask, str(d / "train.npz"), str(d / "val.npz"), outs, "rewind", CFG, 0, IDENT)
    with pytest.raises(ValueError, match="allowed: rewind, finetune_sgd"):
        stages.retrain(mask, str(d / "train.npz"), str(d / "val.npz"), outs, "magic", CFG, 0, IDENT)
    assert not (tmp_path / "c.pt").exists()


def test_oneshot_reaches_target_and_iterative_compounds(dense, tmp_path):
    _, out = dense
    stages.prune(out["checkpoint"], str(tmp_path / "a.pt"), "magnitude_global", 0.2)
    stages.prune(str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "magnitude_global", 0.2)
    stages.prune(out["checkpoint"], str(tmp_path / "c.pt"), "magnitude_global", 0.36, level=2)
    b, c = load_checkpoint(tmp_path / "b.pt"), load_checkpoint(tmp_path / "c.pt")
    total = b["sparsity"]["prunable_total"]
    first = round(0.2 * total)
    assert b["level"] == c["level"] == 2
    assert total - b["sparsity"]["prunable_remaining"] == first + round(0.2 * (total - first))
    assert total - c["sparsity"]["prunable_remaining"] == round(0.36 * total)
    assert STRUCTURE_DIM["connection_l1"] == 1


def test_per_epoch_checkpoints_start_at_the_pruned_network_and_end_at_the_result(dense, tmp_path):
    d, out = dense
    mask = str(tmp_path / "pruned.pt")
    stages.prune(out["checkpoint"], mask, "magnitude_layerwise", 0.6, seed=0)
    outs = {"checkpoint": str(tmp_path / "ft.pt"), "metrics": str(tmp_path / "ft.csv")}
    stages.retrain(mask, str(d / "train.npz"), str(d / "val.npz"), outs, "finetune_sgd", CFG, 0, IDENT,
                   finetune=FINETUNE, epochs_dir=str(tmp_path / "epochs"))
    pruned, final = load_checkpoint(mask)["state_dict"], load_checkpoint(outs["checkpoint"])["state_dict"]
    first = load_checkpoint(tmp_path / "epochs/epoch0/checkpoint.pt")
    last = load_checkpoint(tmp_path / f"epochs/epoch{FINETUNE['epochs']}/checkpoint.pt")
    for key in pruned:
        assert torch.equal(first["state_dict"][key], pruned[key]), key
        assert torch.equal(last["state_dict"][key], final[key]), key
    assert first["epoch"] == 0 and last["epoch"] == FINETUNE["epochs"]


def test_the_dense_model_retrained_without_pruning_keeps_every_weight(dense, tmp_path):
    """The similarity control of Blakeney's magnitude arm: the dense checkpoint itself (no masks)
    fine-tuned like a pruned network; it starts at the dense model's accuracy and trains every weight."""
    d, out = dense
    ckpt, metrics = _retrain(d, out, out["checkpoint"], "finetune_sgd", tmp_path)
    dense_ckpt = load_checkpoint(out["checkpoint"])
    assert ckpt["masks"] == {} and ckpt["level"] == 0 and metrics["sparsity"].eq(0.0).all()
    dense_val = pd.read_csv(out["metrics"]).query("split == 'val'")
    start = metrics[(metrics["split"] == "val") & (metrics["epoch"] == 0)]["top1"].item()
    assert start == pytest.approx(dense_val[dense_val["epoch"] == dense_val["epoch"].max()]["top1"].item())
    assert sorted(metrics.loc[metrics["split"] == "val", "epoch"]) == list(range(FINETUNE["epochs"] + 1))
    for key, w in dense_ckpt["state_dict"].items():
        if key.endswith("conv.weight"):
            changed = ckpt["state_dict"][key] != w
            assert changed.float().mean() > 0.99, key  # every weight trains, none is held at zero


def test_training_budgets_of_the_strategies(dense, tmp_path):
    """Blakeney et al. train re-initialised and random sparse networks "for the same number of epochs
    as the baseline model": the dense run's settings and schedule (warm-up, cosine lr) from iteration
    0. Magnitude pruning is fine-tuned for finetune.epochs from the trained weights (after the dense
    run's epochs); rewinding runs the rest of the dense schedule from the rewind iteration."""
    from pruneinterp import retraining
    from pruneinterp.training import TrainConfig

    d, out = dense
    mask = str(tmp_path / "pruned.pt")
    stages.prune(out["checkpoint"], mask, "magnitude_layerwise", 0.6, seed=0)
    ctx = retraining.Context(load_checkpoint(mask), CFG, retraining.FinetuneConfig.from_dict(FINETUNE), 0,
                             out["rewind"])
    dense_cfg = TrainConfig(**CFG)
    for name in ("reinit", "random_reinit"):
        start = retraining.STRATEGIES[name].start(ctx)
        assert start.cfg == dense_cfg and start.iteration == 0, name
    ft = retraining.STRATEGIES["finetune_sgd"].start(ctx)
    assert (ft.cfg.epochs, ft.iteration, ft.cfg.schedule, ft.cfg.lr) == (FINETUNE["epochs"], 0, "exponential", 0.01)
    rw = retraining.STRATEGIES["rewind"].start(ctx)
    assert rw.cfg == dense_cfg and rw.iteration == 2
    # in optimiser steps (64 training images, batch 32: 2 steps per epoch): the dense run made 2 x 2 = 4,
    # fine-tuning adds 2 x 2 = 4 (8 in all); re-init / random sparse init make 4 from fresh weights
    counted = {}
    real_step = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        counted[name] = counted.get(name, 0) + 1
        return real_step(self, *args, **kwargs)

    torch.optim.SGD.step = step
    try:
        for name in ("finetune_sgd", "reinit", "random_reinit", "rewind"):
            _retrain(d, out, mask, name, tmp_path)
    finally:
        torch.optim.SGD.step = real_step
    assert counted == {"finetune_sgd": 4, "reinit": 4, "random_reinit": 4, "rewind": 2}
