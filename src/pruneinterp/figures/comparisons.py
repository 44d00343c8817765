"""Figures across papers: the same checkpoints by several interpretability measures."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ._common import _backend, _mis_per_run, _remaining, _save, _xaxis, across_seeds, chain_correlations, final_accuracy


def mis_vs_dissection(mis: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int,
                      summary: pd.DataFrame | None = None, accuracy: pd.DataFrame | None = None, **_: Any) -> None:
    """The same checkpoints by three measures: average MIS, interpretable units (dissection) and top-1
    accuracy, against % of prunable weights remaining, one line per seed."""
    per_run = _remaining(_mis_per_run(mis))
    panels = [(per_run, "mis", "average MIS confidence (scored units)")]
    if summary is not None:
        counts = _remaining(summary.groupby(["seed", "level", "sparsity"], as_index=False)["interpretable_units"].sum())
        panels.append((counts, "interpretable_units", "interpretable units (dissection)"))
    if accuracy is not None:
        acc = final_accuracy(accuracy).copy()
        acc["top1_pct"] = 100 * acc["top1"]
        panels.append((acc, "top1_pct", "top-1 val accuracy (%)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.6), gridspec_kw={"wspace": 0.35})
    axes = np.atleast_1d(axes)
    for ax, (df, col, label) in zip(axes, panels):
        sns.lineplot(df, x="remaining", y=col, hue="seed", marker="o", palette="tab10", ax=ax)
        ax.set_ylabel(label)
        _xaxis(ax)
    both = per_run.merge(panels[1][0][["seed", "level", "interpretable_units"]], on=["seed", "level"]) \
        if summary is not None else None
    note = ""
    if both is not None and len(both) > 2:
        # within each seed's pruning chain (its levels are not independent); the seed is the unit
        chains = chain_correlations(both, "mis", "interpretable_units", ["seed"], method="spearman")
        note = "\n" + across_seeds(chains.set_index("seed")["r"], "Spearman ρ(MIS, interpretable units) within the chain")
    layers = ", ".join(dict.fromkeys(mis["layer"]))
    fig.suptitle(f"{title} (MIS layers: {layers}, similarity: {_backend(mis)}){note}", fontsize="medium")
    _save(fig, outputs, dpi)
