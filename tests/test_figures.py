"""Figure statistics: the unit of replication is the pruning chain or seed, never the checkpoint."""

import numpy as np
import pandas as pd
import pytest

from pruneinterp.figures._common import across_seeds, chain_correlations


def test_correlations_are_computed_within_each_chain_not_pooled():
    # two chains, each perfectly increasing within itself, but offset so that pooled they anti-correlate
    df = pd.DataFrame({"seed": [0] * 4 + [1] * 4, "x": [0, 1, 2, 3] * 2,
                       "y": [10, 11, 12, 13, 0, 1, 2, 3]})
    df.loc[df["seed"] == 1, "x"] += 10
    assert np.corrcoef(df["x"], df["y"])[0, 1] < 0  # pooled: the wrong sign
    chains = chain_correlations(df, "x", "y", ["seed"], method="spearman")
    assert chains["r"].tolist() == pytest.approx([1.0, 1.0]) and chains["n"].tolist() == [4, 4]
    const = chain_correlations(df.assign(y=1.0), "x", "y", ["seed"])
    assert const["r"].isna().all()  # undefined, not 0


def test_tests_run_over_seeds_only_and_say_n():
    assert "n = 1 seed: no test" in across_seeds(pd.Series([0.4]), "r")
    two = across_seeds(pd.Series([0.4, 0.6]), "r")
    assert "n = 2 seeds" in two and "p =" not in two
    three = across_seeds(pd.Series([0.5, 0.6, 0.7]), "r")
    assert "n = 3 seeds" in three and "p = " in three and "0.50, 0.60, 0.70" in three


def _vrs_tables():
    """Accuracy and sparsity tables of two one-shot runs (and the dense model) of two methods."""
    acc, sp = [], []
    for method, eff in (("magnitude_global", 0.5), ("structured_l1", 0.8)):
        for retrain in ("none", "finetune_sgd"):
            for level, nominal in ((0, 0.0), (1, 0.5)):
                ident = {"study": "von_rad_seuffert", "model": "m", "seed": 0, "method": method,
                         "schedule": "oneshot", "retrain": retrain, "level": level}
                acc.append({**ident, "sparsity": nominal, "epoch": 1, "split": "val", "top1": 0.9 - 0.2 * level,
                            "loss": 0.1})
                sp.append({**ident, "scope": "prunable", "name": "prunable weights", "total": 100,
                           "remaining": int(100 * (1 - nominal)), "fraction_removed": nominal,
                           "effective_sparsity": eff if level else 0.0})
                sp.append({**ident, "scope": "all", "name": "all parameters", "total": 120,
                           "remaining": 100, "fraction_removed": 0.2, "effective_sparsity": float("nan")})
    return pd.DataFrame(acc), pd.DataFrame(sp)


def test_vrs_fig4_can_put_the_effective_sparsity_on_the_x_axis(tmp_path):
    from pruneinterp.figures._common import final_runs
    from pruneinterp.figures.von_rad_seuffert import vrs_fig4, with_effective_rate

    acc, sp = _vrs_tables()
    df = with_effective_rate(final_runs(acc), sp).set_index(["method", "retrain", "level"])
    assert df.loc[("structured_l1", "none", 1), "rate"] == pytest.approx(80.0)
    assert df.loc[("structured_l1", "none", 1), "nominal_rate"] == pytest.approx(50.0)
    assert df.loc[("magnitude_global", "finetune_sgd", 1), "rate"] == pytest.approx(50.0)
    assert df.loc[("magnitude_global", "finetune_sgd", 0), "rate"] == 0.0
    for x in ("sparsity", "effective_sparsity"):
        out = tmp_path / f"{x}.png"
        vrs_fig4(acc, [str(out)], "t", 40, x=x, sparsity=sp)
        assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="no effective sparsity"):
        vrs_fig4(acc, [str(tmp_path / "x.png")], "t", 40, x="effective_sparsity", sparsity=sp[sp["level"] == 0])


LAYERS = ["conv1", "conv2", "fc"]
METRICS = ["svcca", "pwcca", "cka"]


def _blakeney_tables():
    """A similarity table (iterative and one-shot arms, 2 levels) and its controls: seed 0 vs the
    dense models of seeds 1 and 2, and vs itself fine-tuned without pruning."""
    sim, controls = [], []
    arms = [("iterative", "finetune_sgd")] + [("oneshot", r) for r in ("finetune_sgd", "reinit", "random_reinit")]
    for schedule, retrain in arms:
        for level in (0, 1, 2):
            for i, layer in enumerate(LAYERS):
                for j, metric in enumerate(METRICS):
                    sim.append({"study": "blakeney", "model": "m", "seed": 0, "method": "magnitude_layerwise",
                                "schedule": schedule, "retrain": retrain, "level": level, "sparsity": 0.3 * level,
                                "layer_a": layer, "layer_b": layer, "metric": metric,
                                "similarity": 1.0 - 0.1 * level - 0.05 * i - 0.01 * j, "dims_a": 3, "dims_b": 3,
                                "n_samples": 100})
    for i, layer in enumerate(LAYERS):
        for j, metric in enumerate(METRICS):
            base = {"layer_a": layer, "layer_b": layer, "metric": metric, "dims_a": 3, "dims_b": 3, "n_samples": 100,
                    "study": "blakeney", "model": "m", "seed": 0}
            for other, value in ((1, 0.4), (2, 0.6)):  # seeds: 0.5 on average in every layer
                controls.append({**base, "control": "between_seeds", "other_seed": other, "retrain": "none",
                                 "similarity": value + 0.1 * i + 0.01 * j})
            controls.append({**base, "control": "dense_retrained", "other_seed": 0, "retrain": "finetune_sgd",
                             "similarity": 0.9 - 0.01 * j})
    return pd.DataFrame(sim), pd.DataFrame(controls)


def test_control_values_average_pairs_per_layer_then_layers():
    from pruneinterp.figures.blakeney import control_values

    _, controls = _blakeney_tables()
    refs = control_values(controls, "svcca", LAYERS)
    seeds = refs[refs["key"] == "between_seeds"].set_index("layer_a")
    assert seeds["similarity"].tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert seeds["mean"].iloc[0] == pytest.approx(0.6)
    assert "(seeds 1, 2; 2 pairs)" in seeds["label"].iloc[0]
    ft = refs[refs["key"] == "dense_retrained:finetune_sgd"]
    assert ft["mean"].iloc[0] == pytest.approx(0.9) and "finetune_sgd" in ft["label"].iloc[0]
    assert control_values(controls, "cka", LAYERS)["mean"].tolist()[0] == pytest.approx(0.62)
    assert control_values(None).empty and control_values(controls, "svcca", ["conv9"]).empty


@pytest.mark.parametrize("name", ["bl_fig2", "bl_fig4", "bl_fig5", "bl_metrics"])
def test_blakeney_similarity_figures_draw_the_controls_as_references(tmp_path, name):
    import matplotlib.pyplot as plt

    from pruneinterp.figures import blakeney

    sim, controls = _blakeney_tables()
    drawn = {}
    real_save = blakeney._save

    def keep(fig, outputs, dpi):
        drawn["fig"] = fig
        texts = [t.get_text() for a in fig.axes for lg in [a.get_legend(), *a.artists] if lg is not None
                 and hasattr(lg, "get_texts") for t in lg.get_texts()]
        texts += [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        texts += [t.get_text() for a in fig.axes for t in a.texts] + [t.get_text() for t in fig.texts]
        texts += [t.get_text() for a in fig.axes for t in a.get_xticklabels()]
        drawn["text"] = " | ".join(texts)
        real_save(fig, outputs, dpi)

    blakeney._save = keep
    try:
        for controls_table, out in ((controls, "with.png"), (None, "without.png")):
            getattr(blakeney, name)(sim, [str(tmp_path / out)], "t", 40, method="magnitude_layerwise",
                                    conv="positions", similarity_controls=controls_table)
            assert (tmp_path / out).stat().st_size > 1000
            text = drawn["text"]
            if controls_table is None:
                assert "another seed" not in text and "ref:" not in text
                continue
            assert "dense vs dense of another seed (seeds 1, 2; 2 pairs)" in text, text
            assert "dense vs itself retrained, no pruning (finetune_sgd)" in text, text
            if name in ("bl_fig2", "bl_fig5"):  # SVCCA lines at the mean over layers, value in the legend
                assert ": 0.60" in text and ": 0.90" in text
                ys = sorted(round(line.get_ydata()[0], 6) for line in drawn["fig"].axes[0].lines
                            if line.get_label().startswith("dense vs"))
                assert ys == pytest.approx([0.6, 0.9])
            if name == "bl_fig4":  # per-layer reference columns left of the sparsities
                assert "ref:\nseeds" in text and "ref:\nretrained" in text
                annotations = [t.get_text() for t in drawn["fig"].axes[0].texts]
                assert annotations[:2] == ["0.50", "0.90"]  # first row (conv1): the two references
            if name == "bl_metrics":
                assert "SVCCA 0.60, PWCCA 0.61, linear CKA 0.62" in text
                assert "SVCCA 0.90, PWCCA 0.89, linear CKA 0.88" in text
    finally:
        blakeney._save = real_save
        plt.close("all")


def test_a_figure_is_the_same_file_every_time_it_is_drawn(tmp_path):
    """bl_fig2's strip plot jitters its points with numpy's global generator; draw() seeds it, so the
    same table gives the same PNG and PDF bytes (and leaves the caller's generator as it was)."""
    import numpy as np

    from pruneinterp.figures import draw

    sim, controls = _blakeney_tables()
    sim.to_csv(tmp_path / "sim.csv", index=False)
    controls.to_csv(tmp_path / "controls.csv", index=False)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    files = []
    for run in range(2):
        np.random.seed(run)  # whatever the process did before
        outs = [str(tmp_path / f"run{run}.png"), str(tmp_path / f"run{run}.pdf")]
        draw("bl_fig2", {"similarity": tmp_path / "sim.csv", "similarity_controls": tmp_path / "controls.csv"},
             outs, title="t", dpi=40, method="magnitude_layerwise", conv="positions")
        files.append([open(o, "rb").read() for o in outs])
    assert files[0] == files[1]
    np.random.seed(123)
    draw("bl_fig2", {"similarity": tmp_path / "sim.csv"}, [str(tmp_path / "x.png")], title="t", dpi=40,
         method="magnitude_layerwise", conv="positions")
    assert (np.random.get_state()[1] == before).all()


def _units_table():
    """Two seeds, 3 levels, 6 units: seed 0 has 4 dense-interpretable units, seed 1 has 2; at
    level 2 no unit of seed 1 is interpretable (no right-panel value there)."""
    rows = []
    interp = {0: {0: [1, 1, 1, 1, 0, 0], 1: [1, 1, 1, 0, 0, 0], 2: [1, 0, 0, 0, 0, 1]},
              1: {0: [1, 1, 0, 0, 0, 0], 1: [1, 0, 0, 0, 0, 0], 2: [0, 0, 0, 0, 0, 0]}}
    for seed, levels in interp.items():
        for level, flags in levels.items():
            for unit, flag in enumerate(flags):
                rows.append({"study": "frankle_bau", "model": "m", "seed": seed, "method": "magnitude_global",
                             "schedule": "iterative", "retrain": "rewind", "level": level,
                             "sparsity": 1 - 0.8 ** level, "layer": "layer4", "unit": unit,
                             "label": "circle" if (unit, level) != (0, 1) else "square", "category": "object",
                             "iou": 0.1 if flag else 0.01, "threshold": 1.0, "interpretable": bool(flag)})
    return pd.DataFrame(rows)


def test_fb_fig4_panels_share_the_x_range_and_mark_percentages_of_few_units(tmp_path, monkeypatch):
    from pruneinterp.figures import frankle_bau
    from pruneinterp.tables import consistency

    units = _units_table()
    table = consistency(units).set_index(["seed", "level"])
    assert table.loc[(0, 1), "pct_still_interpretable"] == 75.0 and table.loc[(0, 1), "both_interpretable"] == 3
    assert table.loc[(0, 1), "pct_same_concept"] == pytest.approx(200 / 3)  # unit 0 changed its concept
    assert np.isnan(table.loc[(1, 2), "pct_same_concept"]) and table.loc[(1, 2), "both_interpretable"] == 0
    kept = {}
    monkeypatch.setattr(frankle_bau, "_save", lambda fig, outputs, dpi: kept.setdefault("fig", fig))
    frankle_bau.fb_fig4(units, [str(tmp_path / "f.png")], "t", 50)
    left, right = kept["fig"].axes[:2]
    assert left.get_xlim() == right.get_xlim()
    assert left.get_xlim()[0] > left.get_xlim()[1]  # % remaining falls to the right
    assert max(left.get_xlim()) > 100 and min(left.get_xlim()) < 64
    for ax, counts in ((left, table["dense_interpretable"]), (right, table["both_interpretable"])):
        hollow = [c for c in ax.collections if np.allclose(c.get_facecolor()[:, :3], 1.0)]
        n_hollow = sum(len(c.get_offsets()) for c in hollow)
        values = table["pct_still_interpretable" if ax is left else "pct_same_concept"]
        assert n_hollow == int(((counts < 3) & values.notna()).sum())
