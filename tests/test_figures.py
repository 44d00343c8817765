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
