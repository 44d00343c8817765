"""Mechanistic Interpretability Score: task construction, planted units, chance level, CLI."""

import h5py
import numpy as np
import pandas as pd
import pytest

from pruneinterp.data.broden import Probe, write_shapes_probe
from pruneinterp.mis import MISConfig, load_backend, make_tasks, mis_layer, pooled


@pytest.fixture(scope="module")
def probe400(tmp_path_factory, spec):
    d = tmp_path_factory.mktemp("mis") / "probe"
    write_shapes_probe(d, 420, 2, spec)
    return Probe(d)


def test_tasks_use_the_specified_ranks_and_are_disjoint():
    cfg = MISConfig()
    values = np.random.default_rng(0).permutation(500).astype(float)[:, None]  # rank r from the top = 499 - r
    t = make_tasks(values, cfg)
    top = lambda r: int(np.flatnonzero(values[:, 0] == 499 - r)[0])  # noqa: E731
    bottom = lambda r: int(np.flatnonzero(values[:, 0] == r)[0])  # noqa: E731
    for task in (0, 7, 19):
        assert t.q_pos[0, task] == top(task) and t.q_neg[0, task] == bottom(task)
        assert [int(x) for x in t.e_pos[0, task]] == [top(20 + 20 * j + task) for j in range(9)]
        assert [int(x) for x in t.e_neg[0, task]] == [bottom(20 + 20 * j + task) for j in range(9)]
    used = np.concatenate([t.q_pos.ravel(), t.q_neg.ravel(), t.e_pos.ravel(), t.e_neg.ravel()])
    assert len(np.unique(used)) == len(used) == 400  # queries and explanations all distinct
    with pytest.raises(ValueError, match="at least 400"):
        make_tasks(values[:399], cfg)


def test_ties_are_broken_at_random_with_the_seed():
    values = np.zeros((400, 1))
    values[:5] = 1.0
    a, b = make_tasks(values, MISConfig(seed=1)), make_tasks(values, MISConfig(seed=1))
    c = make_tasks(values, MISConfig(seed=2))
    np.testing.assert_array_equal(a.q_neg, b.q_neg)
    assert not np.array_equal(a.q_neg, c.q_neg)
    assert set(a.q_pos[0, :5]) == set(range(5))


def test_redness_unit_scores_near_one_and_random_units_near_chance(probe400):
    n = len(probe400)
    images = probe400.images(np.arange(n))
    sim = load_backend("features")
    red = images[..., 0].astype(float) - images[..., 1:].mean(-1)  # per-pixel redness (n, 32, 32)
    acts = np.concatenate([red[:, None, ::4, ::4], np.random.default_rng(0).random((n, 50, 8, 8))], axis=1)
    mis, n_tasks = mis_layer(acts, sim, lambda rows: images[rows], MISConfig())
    assert (n_tasks == 20).all()
    assert mis[0] >= 0.9
    # random units: each task is a fair coin, so a unit's MIS ~ Binomial(20, 0.5) / 20 (sd 0.11) and the
    # mean of 50 units has sd 0.5 / sqrt(1000) = 0.016: allow 3 sd
    assert abs(mis[1:].mean() - 0.5) < 3 * 0.5 / np.sqrt(20 * 50)
    assert (np.abs(mis[1:] - 0.5) < 4 * 0.5 / np.sqrt(20)).all()


def test_constant_units_are_not_scored_and_alpha_gives_confidences(probe400):
    n = len(probe400)
    images = probe400.images(np.arange(n))
    acts = np.random.default_rng(1).random((n, 3))
    acts[:, 1] = 0.25
    mis, n_tasks = mis_layer(acts, load_backend("features"), lambda rows: images[rows], MISConfig(alpha=5.0))
    assert np.isnan(mis[1]) and n_tasks[1] == 0 and (n_tasks[[0, 2]] == 20).all()
    assert 0 < mis[0] < 1 and mis[0] not in (0.0, 1.0)


def test_pooling_and_backends_errors():
    a = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    np.testing.assert_allclose(pooled(a, "mean"), a.mean((2, 3)))
    np.testing.assert_allclose(pooled(a, "max"), a.max((2, 3)))
    with pytest.raises(ValueError, match="allowed: features, dreamsim, lpips"):
        load_backend("clip")
    with pytest.raises(ValueError, match="local directory"):
        load_backend("dreamsim", "/no/such/dir")


def test_mis_cli_from_an_activations_file(probe400, tmp_path):
    from pruneinterp.cli import main

    n = len(probe400)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("image_index", data=np.arange(n))
        f.create_dataset("layers/conv4", data=np.random.default_rng(0).random((n, 4, 4, 4)).astype(np.float32))
        f.create_dataset("logits", data=np.random.default_rng(1).random((n, 10)).astype(np.float32))
        f.create_dataset("targets", data=probe400.targets)
    out = tmp_path / "mis.csv"
    assert main(["mis", "--activations", str(tmp_path / "a.h5"), "--probe", str(probe400.root), "--out", str(out),
                 "--class-accuracy-out", str(tmp_path / "acc.csv")]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "unit", "mis", "n_tasks"] and len(df) == 4
    acc = pd.read_csv(tmp_path / "acc.csv")
    assert list(acc.columns) == ["class", "name", "n", "top1"] and acc["n"].sum() == n
    assert main(["mis", "--activations", str(tmp_path / "a.h5"), "--probe", str(probe400.root), "--out",
                 str(tmp_path / "x.csv"), "--n-tasks", "30"]) == 2  # needs 600 images: refused, no output
    assert not (tmp_path / "x.csv").exists()
