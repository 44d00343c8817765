"""Paper figures and tables, drawn from the tidy tables only (no typed-in numbers).

x-axes: Frankle & Bau figures use "% of prunable weights remaining" (log scale, reversed as in the
lottery-ticket papers); von Rad & Seuffert figures use the pruning rate "% of prunable weights
removed" (linear, as in their figures). Both are measured from the masks (``sparsity`` of the
accuracy table = fraction of prunable weights removed); the fraction of *all* parameters removed is
in the study's ``sparsity.csv``.
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


RATE_LABEL = "pruning rate (% of prunable weights removed)"
ARM = ["method", "schedule", "retrain"]
FAMILY_COLORS = {"magnitude": "tab:red", "structured": "tab:blue", "connection": "tab:green"}


def final_runs(acc: pd.DataFrame, split: str = "val") -> pd.DataFrame:
    """The last epoch of every run (arm, seed, level), with ``rate`` = % of prunable weights removed
    and ``top1_pct``."""
    df = acc[acc["split"] == split]
    df = df[df["epoch"] == df.groupby(ARM + ["seed", "level"])["epoch"].transform("max")].copy()
    df["rate"] = 100.0 * df["sparsity"]
    df["top1_pct"] = 100.0 * df["top1"]
    return df


def _select(df: pd.DataFrame, figure: str, **arm: str) -> pd.DataFrame:
    sub = df
    for key, value in arm.items():
        sub = sub[sub[key] == value]
    if sub.empty:
        have = sorted(set(map(tuple, df[ARM].drop_duplicates().values.tolist())))
        raise ValueError(f"{figure}: the accuracy table has no runs with {arm}; it has (method, schedule, retrain) "
                         f"{have}")
    return sub


def _rate_axis(ax: plt.Axes) -> None:
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel("top-1 validation accuracy (%)")
    ax.set_xlim(-2, 102)
    ax.grid(True, alpha=0.3)


FAMILY_MARKERS = {"magnitude": "o", "structured": "s", "connection": "^"}


def _family(method: str) -> tuple[str, str, str]:
    """(colour, line style, marker) of a method: colour and marker by family (magnitude, structured,
    connection), dashed for the random counterpart."""
    base = method.removeprefix("random_")
    family = {"global": "magnitude", "layerwise": "magnitude"}.get(base, base.split("_")[0])
    return (FAMILY_COLORS.get(family, "tab:purple"), "--" if method.startswith("random_") else "-",
            FAMILY_MARKERS.get(family, "D"))


def vrs_fig1(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, **_: Any) -> None:
    df = _select(final_runs(acc), "vrs_fig1", method=method, schedule="oneshot", retrain="none")
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.lineplot(df, x="rate", y="top1_pct", marker="o", errorbar="sd", color="black", ax=ax,
                 label=f"{method}, one-shot, no fine-tuning")
    _rate_axis(ax)
    ax.set_title(title)
    _save(fig, outputs, dpi)


def vrs_fig2(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, **_: Any) -> None:
    runs = _select(acc[acc["split"] == "val"], "vrs_fig2", method=method, schedule="oneshot", retrain="finetune_sgd")
    top = runs[runs["level"] == runs["level"].max()].copy()
    dense = final_runs(runs[runs["level"] == 0])["top1_pct"].mean()
    top["top1_pct"] = 100.0 * top["top1"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.lineplot(top, x="epoch", y="top1_pct", hue="seed", marker="o", palette="tab10", ax=ax)
    ax.axhline(dense, color="gray", ls=":", label="dense")
    ax.set_xlabel("epoch of fine-tuning (0 = pruned, before fine-tuning)")
    ax.set_ylabel("top-1 validation accuracy (%)")
    ax.legend(title="seed", fontsize="small")
    ax.grid(True, alpha=0.3)
    rate = 100.0 * top["sparsity"].iloc[0]
    ax.set_title(f"{title}\n{method}, one-shot to {rate:.1f}% of prunable weights removed, SGD", fontsize="medium")
    _save(fig, outputs, dpi)


def vrs_fig3(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, **_: Any) -> None:
    df = _select(final_runs(acc), "vrs_fig3", method=method, retrain="finetune_sgd")
    df = df[df["schedule"].isin(["oneshot", "iterative"])]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    sns.lineplot(df, x="rate", y="top1_pct", hue="schedule", style="schedule", markers=True, errorbar="sd",
                 hue_order=["iterative", "oneshot"], style_order=["iterative", "oneshot"], ax=ax)
    _rate_axis(ax)
    ax.set_title(f"{title}\n{method}, fine-tuned with SGD after every pruning step", fontsize="medium")
    _save(fig, outputs, dpi)


def vrs_fig4(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    df = final_runs(acc)
    df = df[df["schedule"] == "oneshot"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"wspace": 0.3})
    methods = sorted(df["method"].unique(), key=lambda m: (m.startswith("random_"), m))
    for method in methods:
        color, ls, marker = _family(method)
        for retrain, c, lbl in (("finetune_sgd", color, method), ("none", "black", None)):
            sub = df[(df["method"] == method) & (df["retrain"] == retrain)]
            if not sub.empty:
                sns.lineplot(sub, x="rate", y="top1_pct", color=c, ls=ls, marker=marker, errorbar="sd", ax=axes[0],
                             label=lbl)
    axes[0].set_title("after fine-tuning (SGD); black: no fine-tuning", fontsize="medium")
    axes[0].legend(loc="lower left", fontsize="small")
    _rate_axis(axes[0])
    adam = [m for m in methods if not df[(df["method"] == m) & (df["retrain"] == "finetune_adam")].empty]
    for method in adam:
        color, _, marker = _family(method)
        for retrain, ls in (("finetune_sgd", "-"), ("finetune_adam", "--")):
            sub = df[(df["method"] == method) & (df["retrain"] == retrain)]
            if not sub.empty:
                sns.lineplot(sub, x="rate", y="top1_pct", color=color, ls=ls, marker=marker, errorbar="sd", ax=axes[1],
                             label=f"{method}, {retrain.removeprefix('finetune_').upper()}")
    if not adam:
        axes[1].text(0.5, 0.5, "no finetune_adam runs configured", ha="center", va="center",
                     transform=axes[1].transAxes)
    axes[1].set_title("SGD (solid) vs Adam (dashed) fine-tuning", fontsize="medium")
    _rate_axis(axes[1])
    fig.suptitle(f"{title} (one-shot)")
    _save(fig, outputs, dpi)


BL_STRATEGIES = {"finetune_sgd": "Mag. (fine-tuned)", "reinit": "Re-Init.", "random_reinit": "Rand.",
                 "rewind": "Rewind", "finetune_adam": "Mag. (Adam)", "none": "No retraining"}


def _summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean/sd/n of final top-1 over seeds per (retrain, level), with the measured sparsity."""
    g = df.groupby(["retrain", "level"], as_index=False).agg(
        sparsity=("sparsity", "mean"), top1_mean=("top1_pct", "mean"), top1_std=("top1_pct", "std"),
        n_seeds=("seed", "nunique"))
    g["strategy"] = g["retrain"].map(lambda r: BL_STRATEGIES.get(r, r))
    g[["top1_mean", "top1_std"]] = g[["top1_mean", "top1_std"]].round(3)
    g["sparsity"] = g["sparsity"].round(6)
    return g[["strategy", "retrain", "level", "sparsity", "top1_mean", "top1_std", "n_seeds"]]


def _render_table(summary: pd.DataFrame, row_order: list[str], outputs: Sequence[str], title: str, dpi: int) -> None:
    cols = summary.drop_duplicates("level").sort_values("level")
    headers = ["Ref (0%)" if lv == 0 else f"{100 * sp:.1f}%" for lv, sp in zip(cols["level"], cols["sparsity"])]
    cells, rows = [], []
    for retrain in row_order:
        sub = summary[summary["retrain"] == retrain].set_index("level")
        rows.append(BL_STRATEGIES.get(retrain, retrain))
        line = []
        for lv in cols["level"]:
            if lv not in sub.index:
                line.append("")
                continue
            r = sub.loc[lv]
            sd = f" ± {r['top1_std']:.1f}" if r["n_seeds"] > 1 else ""
            line.append(f"{r['top1_mean']:.1f}%{sd}")
        cells.append(line)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 + 1.25 * len(headers)), 0.9 + 0.35 * (len(rows) + 1)))
    ax.axis("off")
    tab = ax.table(cellText=cells, rowLabels=rows, colLabels=headers, loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(9)
    tab.scale(1, 1.3)
    ax.set_title(title, fontsize="medium")
    _save(fig, outputs, dpi)


def _table_outputs(outputs: Sequence[str]) -> tuple[list[str], list[str]]:
    return [o for o in outputs if o.endswith(".csv")], [o for o in outputs if not o.endswith(".csv")]


def bl_table1(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, **_: Any) -> None:
    from .io import write_csv

    df = _select(final_runs(acc), "bl_table1", method=method, schedule="oneshot")
    order = [r for r in ("finetune_sgd", "reinit", "random_reinit") if r in set(df["retrain"])]
    df = df[df["retrain"].isin(order)]
    summary = _summary_table(df)
    csvs, images = _table_outputs(outputs)
    for out in csvs:
        write_csv(summary, out)
    n = int(summary["n_seeds"].max())
    _render_table(summary, order, images, f"{title}\n{method}, one-shot; top-1 val. accuracy, "
                                          f"mean{' ± sd' if n > 1 else ''} over {n} seed(s); "
                                          f"columns: % of prunable weights removed", dpi)


def bl_table3(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, **_: Any) -> None:
    from .io import write_csv

    df = _select(final_runs(acc), "bl_table3", method=method, schedule="iterative", retrain="finetune_sgd")
    summary = _summary_table(df)
    csvs, images = _table_outputs(outputs)
    for out in csvs:
        write_csv(summary, out)
    n = int(summary["n_seeds"].max())
    _render_table(summary, ["finetune_sgd"], images, f"{title}\n{method}, iterative, fine-tuned after every level; "
                                                     f"mean{' ± sd' if n > 1 else ''} over {n} seed(s)", dpi)


FIGURES = {"fb_fig1": (fb_fig1, "accuracy"), "fb_fig2": (fb_fig2, "summary", "bootstrap", "baseline"), "fb_fig3": (fb_fig3, "summary"),
           "fb_fig4": (fb_fig4, "units"), "vrs_fig1": (vrs_fig1, "accuracy"), "vrs_fig2": (vrs_fig2, "accuracy"),
           "vrs_fig3": (vrs_fig3, "accuracy"), "vrs_fig4": (vrs_fig4, "accuracy"),
           "bl_table1": (bl_table1, "accuracy"), "bl_table3": (bl_table3, "accuracy")}


def draw(name: str, tables: dict[str, str | os.PathLike[str]], outputs: Sequence[str], **params: Any) -> None:
    """Draw figure or table ``name`` from its table files (keys: accuracy, summary, units; fb_fig2 also
    takes bootstrap and baseline when given)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; allowed: {', '.join(FIGURES)}")
    fn, key, *optional = FIGURES[name]
    if key not in tables:
        raise ValueError(f"{name} needs the {key} table; given: {', '.join(tables)}")
    extra = {k: pd.read_csv(tables[k]) for k in optional if k in tables}
    fn(pd.read_csv(tables[key]), list(outputs), **extra, **params)
