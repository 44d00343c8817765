"""Frankle & Bau 2019: accuracy, interpretable units and concepts, consistency over pruning levels."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ._common import _remaining, _save, _xaxis, final_accuracy
from ..tables import consistency


def fb_fig1(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    df = final_accuracy(acc)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.lineplot(df, x="remaining", y="top1", hue="seed", marker="o", palette="tab10", ax=ax)
    ax.set_ylabel("top-1 validation accuracy")
    _xaxis(ax)
    ax.set_title(title)
    _save(fig, outputs, dpi)


COUNTS = {"interpretable_units": "interpretable units", "unique_concepts": "unique concepts"}


def fb_fig2(summary: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int,
            bootstrap: pd.DataFrame | None = None, baseline: pd.DataFrame | None = None, **_: Any) -> None:
    """Counts per seed (colour; error bars: 95% bootstrap interval over probe images), their mean
    over seeds (black; band: ± 1 sd over seeds) and the randomly initialised networks (grey dashed:
    mean over seeds). Counts are summed over the dissected layers (per bootstrap replicate too)."""
    keys = ["seed", "level", "sparsity"]
    df = _remaining(summary.groupby(keys, as_index=False)[list(COUNTS)].sum())
    if bootstrap is not None and not bootstrap.empty:
        reps = bootstrap.groupby(keys + ["replicate"], as_index=False)[list(COUNTS)].sum()
        ci = reps.groupby(keys)[list(COUNTS)].quantile([0.025, 0.975]).unstack()
        ci.columns = [f"{c}_{'lo' if q < 0.5 else 'hi'}" for c, q in ci.columns]
        df = df.merge(ci.reset_index(), on=keys, how="left")
    seeds = sorted(df["seed"].unique())
    colors = dict(zip(seeds, sns.color_palette("tab10", len(seeds))))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8), gridspec_kw={"wspace": 0.25})
    for ax, (col, label) in zip(axes, COUNTS.items()):
        for seed in seeds:
            sub = df[df["seed"] == seed].sort_values("remaining")
            yerr = None
            if f"{col}_lo" in sub:
                yerr = [(sub[col] - sub[f"{col}_lo"]).clip(lower=0), (sub[f"{col}_hi"] - sub[col]).clip(lower=0)]
            ax.errorbar(sub["remaining"], sub[col], yerr=yerr, color=colors[seed], marker="o", ms=3, lw=0.8,
                        alpha=0.6, capsize=2, label=f"seed {seed}")
        if len(seeds) > 1:
            stats = df.groupby("remaining")[col].agg(["mean", "std"]).reset_index()
            ax.plot(stats["remaining"], stats["mean"], color="black", lw=2, label="mean over seeds")
            ax.fill_between(stats["remaining"], stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                            color="black", alpha=0.12, lw=0, label="± 1 sd over seeds")
        if baseline is not None and not baseline.empty:
            base = baseline.groupby("seed")[col].sum()
            ax.axhline(base.mean(), color="gray", ls="--", lw=1.2,
                       label=f"random init (mean of {len(base)} seed{'s' if len(base) > 1 else ''})")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=-0.03 * ax.get_ylim()[1])  # a baseline at 0 stays visible
        _xaxis(ax)
    axes[0].legend(fontsize="x-small", loc="best")
    layers = ", ".join(sorted(summary["layer"].unique()))
    fig.suptitle(f"{title} (layers: {layers}; error bars: 95% bootstrap over probe images)", fontsize="medium")
    _save(fig, outputs, dpi)


def fb_fig3(summary: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, seed: int, **_: Any) -> None:
    sub = summary[summary["seed"] == seed]
    if sub.empty:
        raise ValueError(f"figures.fb_fig3.seed: no runs for seed {seed}; seeds: {sorted(summary['seed'].unique())}")
    cats = [c for c in sub.columns if c.startswith("concepts_")]
    df = _remaining(sub.groupby(["level", "sparsity"], as_index=False)[cats].sum())
    long = df.melt(id_vars=["level", "sparsity", "remaining"], value_vars=cats, var_name="category",
                   value_name="unique concepts")
    long["category"] = long["category"].str.removeprefix("concepts_")
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.lineplot(long, x="remaining", y="unique concepts", hue="category", marker="o", ax=ax)
    _xaxis(ax)
    ax.set_title(f"{title} (seed {seed})")
    _save(fig, outputs, dpi)


def fb_fig4(units: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    df = _remaining(consistency(units))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6), gridspec_kw={"wspace": 0.35})
    for ax, col, label in zip(axes, ["pct_still_interpretable", "pct_same_concept"],
                              ["% of dense-interpretable units\nstill interpretable",
                               "% of units interpretable in both\nwith the same concept"]):
        sns.lineplot(df, x="remaining", y=col, hue="seed", marker="o", palette="tab10", ax=ax)
        ax.set_ylabel(label)
        ax.set_ylim(-2, 102)
        _xaxis(ax)
    fig.suptitle(title)
    _save(fig, outputs, dpi)
