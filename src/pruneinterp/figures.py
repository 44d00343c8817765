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
import numpy as np  # noqa: E402
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


METHOD_NAMES = {"svcca": "SVCCA", "pwcca": "PWCCA", "cka": "linear CKA"}


CONV_NOTE = {"positions": "conv layers: (image, position) samples", "mean": "conv layers: spatial means"}


def _similarity_note(sim: pd.DataFrame, conv: str | None = None) -> str:
    n = sorted(set(sim["n_samples"].astype(int))) if "n_samples" in sim and len(sim) else []
    samples = "/".join(str(v) for v in n)
    return f"{CONV_NOTE.get(conv or '', 'conv layers: ?')}, {samples} samples"


def _layer_order(sim: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(sim["layer_a"]))


def _pick(sim: pd.DataFrame, figure: str, metric: str | None = None, **arm: str) -> pd.DataFrame:
    df = _select(sim, figure, **arm)
    if metric is not None:
        df = df[df["metric"] == metric]
        if df.empty:
            raise ValueError(f"{figure}: no {metric} rows in the similarity table (similarity.methods)")
    return df


def _rate_label(df: pd.DataFrame) -> pd.Series:
    return (100 * df["sparsity"]).round(1).astype(str) + "%"


def bl_fig2(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, conv: str | None = None,
            **_: Any) -> None:
    """Distribution over layers of SVCCA similarity to the dense model, per sparsity (iterative)."""
    df = _pick(sim, "bl_fig2", "svcca", method=method, schedule="iterative", retrain="finetune_sgd").copy()
    df = df[df["level"] > 0].sort_values("level")
    df["sparsity (% of prunable weights removed)"] = _rate_label(df)
    x = "sparsity (% of prunable weights removed)"
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    sns.boxplot(df, x=x, y="similarity", color="lightsteelblue", fliersize=0, ax=ax)
    sns.stripplot(df, x=x, y="similarity", hue="layer_a", hue_order=_layer_order(df), palette="viridis", size=4,
                  jitter=0.15, ax=ax)
    ax.set_ylabel("SVCCA similarity to the dense model")
    ax.set_ylim(0, 1.02)
    ax.legend(title="layer", fontsize="x-small", loc="lower left")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(f"{title}\n{method}, iterative, fine-tuned; {_similarity_note(df, conv)}", fontsize="medium")
    _save(fig, outputs, dpi)


def _heatmap(pivot: pd.DataFrame, ax: plt.Axes, xlabel: str) -> None:
    sns.heatmap(pivot, vmin=0, vmax=1, cmap="magma", annot=True, fmt=".2f", annot_kws={"size": 7},
                cbar_kws={"label": "SVCCA similarity"}, ax=ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("layer")


def bl_fig3(epochs: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, conv: str | None = None,
            **_: Any) -> None:
    """Layer x retraining epoch: similarity of the most pruned network to itself before retraining."""
    df = epochs[epochs["metric"] == "svcca"]
    if df.empty:
        raise ValueError("bl_fig3: no svcca rows in the epoch similarity table (similarity.methods)")
    pivot = df.pivot_table(index="layer_a", columns="epoch", values="similarity").reindex(_layer_order(df))
    fig, ax = plt.subplots(figsize=(1.8 + 0.8 * pivot.shape[1], 1.2 + 0.45 * pivot.shape[0]))
    _heatmap(pivot, ax, "epoch of retraining (0 = pruned, before retraining)")
    r = df.iloc[0]
    ax.set_title(f"{title}\n{r['method']}, one-shot level {r['level']}, {r['retrain']}, seed {r['seed']}; "
                 f"vs epoch 0\n{_similarity_note(df, conv)}", fontsize="small")
    _save(fig, outputs, dpi)


def bl_fig4(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, conv: str | None = None,
            **_: Any) -> None:
    """Layer x sparsity heatmap of SVCCA similarity to the dense model (iterative pruning)."""
    df = _pick(sim, "bl_fig4", "svcca", method=method, schedule="iterative", retrain="finetune_sgd").copy()
    df["rate"] = _rate_label(df)
    order = df.drop_duplicates("level").sort_values("level")["rate"].tolist()
    pivot = df.pivot_table(index="layer_a", columns="rate", values="similarity").reindex(
        index=_layer_order(df), columns=order)
    fig, ax = plt.subplots(figsize=(1.6 + 0.75 * pivot.shape[1], 1.2 + 0.45 * pivot.shape[0]))
    _heatmap(pivot, ax, "% of prunable weights removed (iterative)")
    model = df["model"].iloc[0] if "model" in df else ""
    ax.set_title(f"{title}\n{model} (VGG-style), {method}, iterative, fine-tuned\n{_similarity_note(df, conv)}",
                 fontsize="small")
    _save(fig, outputs, dpi)


def bl_fig5(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, conv: str | None = None,
            **_: Any) -> None:
    """Similarity distributions over layers for re-init vs random sparse init (and fine-tuned
    magnitude pruning for reference), per target sparsity."""
    df = _pick(sim, "bl_fig5", "svcca", method=method, schedule="oneshot").copy()
    df = df[(df["level"] > 0) & df["retrain"].isin(["finetune_sgd", "reinit", "random_reinit"])]
    df["strategy"] = df["retrain"].map(BL_STRATEGIES)
    df["target"] = _rate_label(df)
    order = df.drop_duplicates("level").sort_values("level")["target"].tolist()
    hue_order = [BL_STRATEGIES[r] for r in ("finetune_sgd", "reinit", "random_reinit") if r in set(df["retrain"])]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.boxplot(df, x="target", y="similarity", hue="strategy", order=order, hue_order=hue_order, ax=ax,
                fliersize=2)
    ax.set_xlabel("sparsity (% of prunable weights removed, one-shot)")
    ax.set_ylabel("SVCCA similarity to the dense model")
    ax.set_ylim(0, 1.02)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize="small", loc="lower left")
    ax.set_title(f"{title}\n{method}; boxes: the layers; {_similarity_note(df, conv)}", fontsize="medium")
    _save(fig, outputs, dpi)


def bl_metrics(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str,
               conv: str | None = None, **_: Any) -> None:
    """For each sparsity: SVCCA vs PWCCA vs linear CKA (mean over layers, bars: min-max over layers),
    iterative (left) and one-shot strategies (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"wspace": 0.25, "width_ratios": [1, 1.2]})
    it = _pick(sim, "bl_metrics", method=method, schedule="iterative", retrain="finetune_sgd").copy()
    it["x"] = _rate_label(it)
    order = it.drop_duplicates("level").sort_values("level")["x"].tolist()
    hue = [m for m in METHOD_NAMES if m in set(it["metric"])]
    sns.barplot(it, x="x", y="similarity", hue="metric", order=order, hue_order=hue,
                errorbar=lambda v: (v.min(), v.max()), ax=axes[0])
    axes[0].set_xlabel("% of prunable weights removed (iterative, fine-tuned)")
    axes[0].tick_params(axis="x", labelrotation=45)
    one = sim[(sim["method"] == method) & (sim["schedule"] == "oneshot") & (sim["level"] > 0)].copy()
    if not one.empty:
        one = one[one["retrain"].isin(["finetune_sgd", "reinit", "random_reinit"])]
        one["x"] = one["retrain"].map(BL_STRATEGIES) + "\n" + _rate_label(one)
        order1 = one.sort_values(["retrain", "level"]).drop_duplicates("x")["x"].tolist()
        sns.barplot(one, x="x", y="similarity", hue="metric", order=order1, hue_order=hue,
                    errorbar=lambda v: (v.min(), v.max()), ax=axes[1])
        axes[1].tick_params(axis="x", labelrotation=90, labelsize=7)
        axes[1].set_xlabel("one-shot strategy and sparsity")
    for ax in axes:
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("similarity to the dense model\n(mean over layers; bar: min-max)")
        ax.grid(True, axis="y", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles, [METHOD_NAMES.get(lbl, lbl) for lbl in labels], fontsize="small", loc="lower left")
    fig.suptitle(f"{title} ({method}; does the conclusion depend on the metric?)\n{_similarity_note(it, conv)}",
                 fontsize="medium")
    _save(fig, outputs, dpi)


def _backend(mis: pd.DataFrame) -> str:
    """The image-similarity backend the MIS table was computed with (named on every MIS figure)."""
    return ", ".join(map(str, dict.fromkeys(mis["backend"]))) if "backend" in mis else "unknown backend"


def _mis_per_run(mis: pd.DataFrame) -> pd.DataFrame:
    """Mean MIS over the scored (non-constant) units of every run, and the number of constant units."""
    keys = [c for c in ("method", "schedule", "retrain", "seed", "level", "sparsity") if c in mis]
    if mis["n_tasks"].eq(0).all():
        raise ValueError("no scored units in the MIS table (every unit constant)")
    g = mis.groupby(keys, as_index=False).agg(mis=("mis", "mean"), constant=("n_tasks", lambda v: int((v == 0).sum())))
    g["rate"] = 100.0 * g["sparsity"]
    return g


def vrs_fig5(mis: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    """Average MIS vs pruning rate per method; black: no fine-tuning; Pearson r (MIS, rate)."""
    from scipy.stats import pearsonr

    df = _mis_per_run(mis)
    df = df[df["schedule"] == "oneshot"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method in sorted(df["method"].unique(), key=lambda m: (m.startswith("random_"), m)):
        color, ls, marker = _family(method)
        for retrain in sorted(df["retrain"].unique()):
            sub = df[(df["method"] == method) & (df["retrain"] == retrain)].sort_values("rate")
            if sub.empty:
                continue
            c = "black" if retrain == "none" else color
            ax.plot(sub["rate"], sub["mis"], color=c, ls=ls if retrain != "finetune_adam" else ":", marker=marker,
                    ms=4, label=f"{method}, {retrain}" if retrain != "none" else None)
    pruned = df[df["level"] > 0]
    r, p = pearsonr(pruned["rate"], pruned["mis"]) if len(pruned) > 2 else (float("nan"), float("nan"))
    ax.text(0.02, 0.04, f"Pearson r(MIS, rate) = {r:.3f}, p = {p:.2g} (n = {len(pruned)} pruned models)",
            transform=ax.transAxes, fontsize="small")
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel("average MIS (scored units)")
    layers = ", ".join(dict.fromkeys(mis["layer"]))
    ax.set_title(f"{title}\none-shot; black: no fine-tuning; layers {layers}; similarity: {_backend(mis)}",
                 fontsize="medium")
    ax.set_xlim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper right")
    _save(fig, outputs, dpi)


def vrs_fig6(mis: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, retrain: str = "finetune_sgd",
             level: int = 1, classes: pd.DataFrame | None = None, **_: Any) -> None:
    """Per class: top-1 accuracy on the probe and MIS of its class (softmax) unit, for one pruned model,
    with moving averages and their Pearson correlation."""
    from scipy.stats import pearsonr

    if classes is None:
        raise ValueError("vrs_fig6 needs the per-class accuracy table")
    arm = dict(method=method, schedule="oneshot", retrain=retrain, level=level)
    units = _select(mis, "vrs_fig6", **arm)
    units = units[units["layer"] == units["layer"].iloc[-1]]  # the last MIS layer: the class units
    acc = _select(classes, "vrs_fig6", **arm)
    df = acc.merge(units[["unit", "mis"]], left_on="class", right_on="unit").sort_values("class")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    window = max(2, len(df) // 5)
    ax.plot(df["class"], 100 * df["top1"], "o", color="tab:blue", alpha=0.5, label="class accuracy (%)")
    ax.plot(df["class"], 100 * df["top1"].rolling(window, center=True, min_periods=1).mean(), color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(df["class"], df["mis"], "s", color="tab:red", alpha=0.5, label="MIS of the class unit")
    ax2.plot(df["class"], df["mis"].rolling(window, center=True, min_periods=1).mean(), color="tab:red")
    ok = df[["top1", "mis"]].dropna()
    r, p = pearsonr(ok["top1"], ok["mis"]) if len(ok) > 2 and ok["mis"].nunique() > 1 else (float("nan"), float("nan"))
    ax.set_xticks(df["class"], df["name"], rotation=45, fontsize="small")
    ax.set_ylabel("top-1 accuracy on the probe (%)", color="tab:blue")
    ax2.set_ylabel("MIS", color="tab:red")
    ax2.set_ylim(0, 1.05)
    rate = 100 * acc["sparsity"].iloc[0]
    ax.set_title(f"{title}\n{method}, one-shot {rate:.1f}% removed, {retrain}; lines: moving averages "
                 f"(window {window}); Pearson r = {r:.2f} (p = {p:.2g}); similarity: {_backend(mis)}",
                 fontsize="small")
    _save(fig, outputs, dpi)


def mis_vs_dissection(mis: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int,
                      summary: pd.DataFrame | None = None, accuracy: pd.DataFrame | None = None, **_: Any) -> None:
    """The same checkpoints by three measures: average MIS, interpretable units (dissection) and top-1
    accuracy, against % of prunable weights remaining, one line per seed."""
    per_run = _remaining(_mis_per_run(mis))
    panels = [(per_run, "mis", "average MIS (scored units)")]
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
        from scipy.stats import spearmanr

        rho, p = spearmanr(both["mis"], both["interpretable_units"])
        note = f"; Spearman(MIS, interpretable units) = {rho:.2f} (p = {p:.2g})"
    layers = ", ".join(dict.fromkeys(mis["layer"]))
    fig.suptitle(f"{title} (MIS layers: {layers}, similarity: {_backend(mis)}{note})", fontsize="medium")
    _save(fig, outputs, dpi)


FIGURES = {"fb_fig1": (fb_fig1, "accuracy"), "fb_fig2": (fb_fig2, "summary", "bootstrap", "baseline"), "fb_fig3": (fb_fig3, "summary"),
           "fb_fig4": (fb_fig4, "units"), "vrs_fig1": (vrs_fig1, "accuracy"), "vrs_fig2": (vrs_fig2, "accuracy"),
           "vrs_fig3": (vrs_fig3, "accuracy"), "vrs_fig4": (vrs_fig4, "accuracy"),
           "bl_table1": (bl_table1, "accuracy"), "bl_table3": (bl_table3, "accuracy"),
           "bl_fig2": (bl_fig2, "similarity"), "bl_fig3": (bl_fig3, "similarity_epochs"),
           "bl_fig4": (bl_fig4, "similarity"), "bl_fig5": (bl_fig5, "similarity"),
           "bl_metrics": (bl_metrics, "similarity"), "vrs_fig5": (vrs_fig5, "mis"),
           "vrs_fig6": (vrs_fig6, "mis", "classes"), "mis_vs_dissection": (mis_vs_dissection, "mis", "summary", "accuracy")}


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
