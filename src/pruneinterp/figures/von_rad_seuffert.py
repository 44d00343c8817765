"""von Rad & Seuffert 2024: accuracy of pruning methods and schedules (Figs. 1-4) and MIS (Figs. 5-6)."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ._common import (RATE_LABEL, _backend, _family, _mis_per_run, _rate_axis, _save, _select, across_seeds,
                      chain_correlations, final_runs)


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


EFFECTIVE_RATE_LABEL = "effective pruning rate (% of prunable weights masked or dead)"


def with_effective_rate(df: pd.DataFrame, sparsity: pd.DataFrame) -> pd.DataFrame:
    """``df`` (final runs) with ``rate`` = the effective sparsity of each run in % (the ``prunable``
    row of the study's sparsity table: masked weights plus unmasked ones that cannot affect the
    output); ``nominal_rate`` keeps the masked fraction."""
    keys = ["method", "schedule", "retrain", "seed", "level"]
    eff = sparsity[sparsity["scope"] == "prunable"][keys + ["effective_sparsity"]]
    out = df.merge(eff, on=keys, how="left", validate="many_to_one")
    if out["effective_sparsity"].isna().any():
        missing = out[out["effective_sparsity"].isna()][keys].drop_duplicates().to_dict("records")
        raise ValueError(f"vrs_fig4: no effective sparsity in the sparsity table for {missing[:3]}")
    out["nominal_rate"] = out["rate"]
    out["rate"] = 100.0 * out["effective_sparsity"]
    return out


def vrs_fig4(acc: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, x: str = "sparsity",
             sparsity: pd.DataFrame | None = None, **_: Any) -> None:
    """``x``: ``sparsity`` (% of prunable weights masked) or ``effective_sparsity`` (masked or dead,
    from the study's sparsity table)."""
    df = final_runs(acc)
    df = df[df["schedule"] == "oneshot"]
    if x == "effective_sparsity":
        if sparsity is None:
            raise ValueError("vrs_fig4: x = effective_sparsity needs the study's sparsity table")
        df = with_effective_rate(df, sparsity)
    elif x != "sparsity":
        raise ValueError(f"vrs_fig4: x = {x!r}; allowed: sparsity, effective_sparsity")
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
    if x == "effective_sparsity":
        for ax in axes:
            ax.set_xlabel(EFFECTIVE_RATE_LABEL)
    fig.suptitle(f"{title} (one-shot)")
    _save(fig, outputs, dpi)


def vrs_fig5(mis: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, **_: Any) -> None:
    """Average MIS vs pruning rate per method; black: no fine-tuning. Pearson r(MIS, rate) within each
    arm and seed (its levels are one chain of models from the same dense network, not independent
    samples), summarised over arms per seed; a test only over seeds (the independent unit)."""
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
    arms = chain_correlations(df, "rate", "mis", ["seed", "method", "retrain"], method="pearson")
    per_seed = arms.groupby("seed")["r"].median()
    spread = f"[{arms['r'].min():.2f}, {arms['r'].max():.2f}]" if arms["r"].notna().any() else "[-]"
    ax.text(0.02, 0.04, f"Pearson r(MIS, rate) within each arm (dense + its levels): {spread} over {len(arms)} arms\n"
            f"{across_seeds(per_seed, 'median r over arms')}", transform=ax.transAxes, fontsize="x-small",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel("average MIS confidence (scored units)")
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
    ax2.plot(df["class"], df["mis"], "s", color="tab:red", alpha=0.5, label="MIS confidence of the class (softmax) unit")
    ax2.plot(df["class"], df["mis"].rolling(window, center=True, min_periods=1).mean(), color="tab:red")
    ok = df[["top1", "mis"]].dropna()
    r, p = pearsonr(ok["top1"], ok["mis"]) if len(ok) > 2 and ok["mis"].nunique() > 1 else (float("nan"), float("nan"))
    acc_range = f"{100 * ok['top1'].min():.0f}-{100 * ok['top1'].max():.0f}%" if len(ok) else "-"
    ax.set_xticks(df["class"], df["name"], rotation=45, fontsize="small")
    ax.set_ylabel("top-1 accuracy on the probe (%)", color="tab:blue")
    ax2.set_ylabel("MIS confidence", color="tab:red")
    ax2.set_ylim(0, 1.05)
    rate = 100 * acc["sparsity"].iloc[0]
    ax.set_title(f"{title}\n{method}, one-shot {rate:.1f}% removed, {retrain}; lines: moving averages "
                 f"(window {window}); Pearson r over {len(ok)} classes = {r:.2f} (p = {p:.2g}); class accuracy "
                 f"range {acc_range}; similarity: {_backend(mis)}",
                 fontsize="small")
    _save(fig, outputs, dpi)
