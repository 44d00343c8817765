"""Frankle & Bau 2019: accuracy, interpretable units and concepts, consistency over pruning levels."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ._common import _remaining, _save, _xaxis, final_accuracy
from ..tables import consistency


def layer_state(sparsity: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per seed and level: the global % of prunable weights remaining, the % remaining of the
    dissected layers' own weights (every pruned module inside them: a module belongs to unit layer
    ``L`` when ``L`` is one of its dotted name's parts, e.g. ``layer4.0.conv1`` or
    ``features.conv4.conv``), and their live units (units with a non-empty top-quantile mask, i.e. not
    constant on the probe), summed over the dissected layers."""
    keys = ["seed", "level"]
    layers = sorted(summary["layer"].unique())
    per_layer = sparsity[sparsity["scope"] == "layer"]
    inside = per_layer["name"].map(lambda n: any(part in layers for part in str(n).split(".")))
    own = per_layer[inside].groupby(keys)[["total", "remaining"]].sum()
    glob = sparsity[sparsity["scope"] == "prunable"].set_index(keys)[["total", "remaining"]]
    live = summary.groupby(keys)[["live_units", "units"]].sum()
    df = pd.DataFrame({"remaining": 100.0 * glob["remaining"] / glob["total"],
                       "layer_remaining": 100.0 * own["remaining"] / own["total"]}).join(live, how="inner")
    return df.reset_index()


def _layer_panel(ax: plt.Axes, state: pd.DataFrame, layers: str) -> None:
    """The dissected layers' own weights remaining (left axis, solid) and their live units (right
    axis, dashed) against the global % remaining; the dotted diagonal is 'pruned like the average'."""
    seeds = sorted(state["seed"].unique())
    colors = dict(zip(seeds, sns.color_palette("tab10", len(seeds))))
    twin = ax.twinx()
    for seed in seeds:
        sub = state[state["seed"] == seed].sort_values("remaining")
        ax.plot(sub["remaining"], sub["layer_remaining"], "o-", ms=3, color=colors[seed], label=f"seed {seed}")
        twin.plot(sub["remaining"], sub["live_units"], "s--", ms=3, lw=0.8, color=colors[seed], alpha=0.7)
    lim = [state["remaining"].min(), 100]
    ax.plot(lim, lim, ":", color="gray", lw=1, label="same as all weights")
    ax.set_yscale("log")
    ax.set_ylabel(f"% of {layers}'s weights remaining (solid)")
    twin.set_ylabel(f"live units of {layers} (dashed; of {int(state['units'].max())})")
    twin.set_ylim(0, state["units"].max() * 1.05)
    _xaxis(ax)
    ax.legend(fontsize="x-small", loc="lower left")


def fb_fig1(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, sparsity: pd.DataFrame | None = None,
            summary: pd.DataFrame | None = None, **_: Any) -> None:
    """Accuracy per seed; beside it (with the sparsity and dissection tables) the dissected layers'
    own density and live units against the global sparsity."""
    df = final_accuracy(acc)
    panels = 2 if sparsity is not None and summary is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 + 5.5 * (panels - 1), 3.6), squeeze=False,
                             gridspec_kw={"wspace": 0.35})
    ax = axes[0, 0]
    sns.lineplot(df, x="remaining", y="top1", hue="seed", marker="o", palette="tab10", ax=ax)
    ax.set_ylabel("top-1 validation accuracy")
    _xaxis(ax)
    if panels == 2:
        layers = ", ".join(sorted(summary["layer"].unique()))
        _layer_panel(axes[0, 1], layer_state(sparsity, summary), layers)
        axes[0, 1].set_title(f"the dissected layer ({layers})", fontsize="medium")
    fig.suptitle(title, fontsize="medium")
    _save(fig, outputs, dpi)


COUNTS = {"interpretable_units": "interpretable units", "unique_concepts": "unique concepts"}


def fb_fig2(summary: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int,
            bootstrap: pd.DataFrame | None = None, baseline: pd.DataFrame | None = None,
            sparsity: pd.DataFrame | None = None, **_: Any) -> None:
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
    panels = 3 if sparsity is not None and "live_units" in summary else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.25 * panels, 3.8), gridspec_kw={"wspace": 0.3 if panels == 2 else 0.45})
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
    if panels == 3:
        _layer_panel(axes[2], layer_state(sparsity, summary), layers)
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


FEW_UNITS = 3  # fb_fig4: a percentage of fewer units than this is drawn as an open marker


def fb_fig4(units: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    """Both panels on one x-range (every level of every seed, also where the right panel has no
    value because no unit is interpretable at both levels); a percentage computed from fewer than
    :data:`FEW_UNITS` units is an open marker."""
    from matplotlib.lines import Line2D

    df = _remaining(consistency(units))
    seeds = sorted(df["seed"].unique())
    colors = dict(zip(seeds, sns.color_palette("tab10", len(seeds))))
    lo, hi = float(df["remaining"].min()), float(df["remaining"].max())
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8), gridspec_kw={"wspace": 0.35})
    for ax, col, count, label in zip(
            axes, ["pct_still_interpretable", "pct_same_concept"], ["dense_interpretable", "both_interpretable"],
            ["% of dense-interpretable units\nstill interpretable", "% of units interpretable in both\nwith the same concept"]):
        for seed in seeds:
            sub = df[df["seed"] == seed].sort_values("remaining", ascending=False)
            ax.plot(sub["remaining"], sub[col], color=colors[seed], lw=1.2)
            sub = sub[sub[col].notna()]
            few = sub[count] < FEW_UNITS
            ax.scatter(sub.loc[~few, "remaining"], sub.loc[~few, col], color=colors[seed], s=18, zorder=3)
            ax.scatter(sub.loc[few, "remaining"], sub.loc[few, col], facecolors="white", edgecolors=colors[seed],
                       s=26, linewidths=1.2, zorder=3)
        ax.set_ylabel(label)
        ax.set_ylim(-2, 102)
        ax.set_xlim(lo / 1.15, hi * 1.15)
        _xaxis(ax)
    handles = [Line2D([], [], color=colors[s], marker="o", ms=4, label=f"seed {s}") for s in seeds]
    handles.append(Line2D([], [], color="grey", marker="o", ls="", mfc="white", ms=5,
                          label=f"from < {FEW_UNITS} units"))
    axes[1].legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(title)
    _save(fig, outputs, dpi)
