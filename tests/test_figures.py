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
