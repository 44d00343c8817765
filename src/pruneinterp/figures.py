"""Paper figures, drawn from the tidy tables only (no typed-in numbers).

x-axes: "% of prunable weights remaining" (log scale, reversed as in the lottery-ticket papers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402

from .io import atomic_path  # noqa: E402
from .tables import consistency  # noqa: E402

X_LABEL = "% of prunable weights remaining"


def _save(fig: plt.Figure, outputs: Sequence[str], dpi: int) -> None:
    for out in outputs:
        suffix = Path(out).suffix
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=suffix.lstrip("."))
    plt.close(fig)


def _remaining(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["remaining"] = 100.0 * (1.0 - df["sparsity"])
    return df


def _xaxis(ax: plt.Axes) -> None:
    ax.set_xscale("log")
    ax.invert_xaxis()
    ticks = [100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1]
    lo, hi = sorted(ax.get_xlim())
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(X_LABEL)
    ax.grid(True, which="both", alpha=0.3)


def final_accuracy(acc: pd.DataFrame, split: str = "val") -> pd.DataFrame:
    last = acc[acc["split"] == split]
    last = last[last["epoch"] == last.groupby(["seed", "level"])["epoch"].transform("max")]
    return _remaining(last)


def fb_fig1(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    df = final_accuracy(acc)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.lineplot(df, x="remaining", y="top1", hue="seed", marker="o", palette="tab10", ax=ax)
    ax.set_ylabel("top-1 validation accuracy")
    _xaxis(ax)
    ax.set_title(title)
    _save(fig, outputs, dpi)


def fb_fig2(summary: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    df = _remaining(summary.groupby(["seed", "level", "sparsity"], as_index=False)[
        ["interpretable_units", "unique_concepts"]].sum())
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"wspace": 0.25})
    for ax, col, label in zip(axes, ["interpretable_units", "unique_concepts"],
                              ["interpretable units", "unique concepts"]):
        sns.lineplot(df, x="remaining", y=col, hue="seed", marker="o", palette="tab10", ax=ax)
        ax.set_ylabel(label)
        _xaxis(ax)
    layers = ", ".join(sorted(summary["layer"].unique()))
    fig.suptitle(f"{title} (layers: {layers})")
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


FIGURES = {"fb_fig1": fb_fig1, "fb_fig2": fb_fig2, "fb_fig3": fb_fig3, "fb_fig4": fb_fig4}


def draw(name: str, tables: dict[str, str | os.PathLike[str]], outputs: Sequence[str], **params: Any) -> None:
    """Draw figure ``name`` from table files (keys: accuracy, summary, units)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; allowed: {', '.join(FIGURES)}")
    if name == "fb_fig1":
        FIGURES[name](pd.read_csv(tables["accuracy"]), outputs, **params)
    elif name in ("fb_fig2", "fb_fig3"):
        FIGURES[name](pd.read_csv(tables["summary"]), outputs, **params)
    else:
        FIGURES[name](pd.read_csv(tables["units"]), outputs, **params)
