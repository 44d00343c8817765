"""Blakeney et al. 2020: accuracy tables (Tables 1, 3) and SVCCA similarity to the dense model (Figs. 2-5),
plus SVCCA vs PWCCA vs CKA."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ._common import _save, _select, final_runs


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
    from ..io import write_csv

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
    from ..io import write_csv

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


# ---- controls: similarities of networks nobody pruned (similarity_controls.csv) -----------------

CONTROL_STYLE = {"between_seeds": {"color": "tab:green", "ls": "--"},
                 "dense_retrained": {"color": "tab:orange", "ls": ":"}}


def control_label(control: str, rows: pd.DataFrame) -> str:
    """What a control is, in a legend: which networks were compared."""
    if control == "between_seeds":
        pairs = rows[["seed", "other_seed"]].drop_duplicates()
        others = sorted(set(pairs["other_seed"]))
        seeds = f"seed{'s' if len(others) > 1 else ''} {', '.join(map(str, others))}"
        return f"dense vs dense of another seed ({seeds}; {len(pairs)} pair{'s' if len(pairs) != 1 else ''})"
    retrain = ", ".join(dict.fromkeys(rows["retrain"]))
    return f"dense vs itself retrained, no pruning ({retrain})"


def control_values(controls: pd.DataFrame | None, metric: str = "svcca", layers: Sequence[str] | None = None
                   ) -> pd.DataFrame:
    """Per control (``between_seeds``, and ``dense_retrained`` per strategy): the similarity of each
    layer averaged over seeds and pairs (``layer_a``, ``similarity``), plus ``mean`` over the layers
    (the reference line) and ``label``. Empty without controls."""
    cols = ["key", "control", "label", "layer_a", "similarity", "mean"]
    if controls is None or controls.empty:
        return pd.DataFrame(columns=cols)
    df = controls[controls["metric"] == metric]
    if layers is not None:
        df = df[df["layer_a"].isin(layers)]
    rows = []
    keys = [("between_seeds", df[df["control"] == "between_seeds"])]
    retrained = df[df["control"] == "dense_retrained"]
    keys += [(f"dense_retrained:{r}", retrained[retrained["retrain"] == r]) for r in dict.fromkeys(retrained["retrain"])]
    for key, sub in keys:
        if sub.empty:
            continue
        per_layer = sub.groupby("layer_a", sort=False)["similarity"].mean()
        control = key.split(":")[0]
        for layer, value in per_layer.items():
            rows.append({"key": key, "control": control, "label": control_label(control, sub), "layer_a": layer,
                         "similarity": float(value), "mean": float(per_layer.mean())})
    return pd.DataFrame(rows, columns=cols)


def _reference_lines(ax: plt.Axes, refs: pd.DataFrame, fmt: str = "{label}: {mean:.2f}") -> list[Any]:
    """Horizontal reference lines at each control's mean over layers, labelled for a legend."""
    handles = []
    for i, (key, g) in enumerate(refs.groupby("key", sort=False)):
        style = dict(CONTROL_STYLE[g["control"].iloc[0]])
        if i > 1:  # a second retraining strategy
            style["ls"] = "-."
        first = g.iloc[0]
        handles.append(ax.axhline(first["mean"], lw=1.4, zorder=0.5, **style,
                                  label=fmt.format(label=first["label"], mean=first["mean"])))
    return handles


def _reference_legend(ax: plt.Axes, handles: list[Any], loc: str = "lower right") -> None:
    if handles:
        legend = ax.legend(handles=handles, title="references (mean over layers)", fontsize="x-small",
                           title_fontsize="x-small", loc=loc)
        ax.add_artist(legend)


def bl_fig2(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, conv: str | None = None,
            similarity_controls: pd.DataFrame | None = None, **_: Any) -> None:
    """Distribution over layers of SVCCA similarity to the dense model, per sparsity (iterative), with
    the controls (dense vs other seeds, dense retrained without pruning) as reference lines."""
    df = _pick(sim, "bl_fig2", "svcca", method=method, schedule="iterative", retrain="finetune_sgd").copy()
    df = df[df["level"] > 0].sort_values("level")
    df["sparsity (% of prunable weights removed)"] = _rate_label(df)
    x = "sparsity (% of prunable weights removed)"
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    sns.boxplot(df, x=x, y="similarity", color="lightsteelblue", fliersize=0, ax=ax)
    sns.stripplot(df, x=x, y="similarity", hue="layer_a", hue_order=_layer_order(df), palette="viridis", size=4,
                  jitter=0.15, ax=ax)
    refs = control_values(similarity_controls, "svcca", _layer_order(df))
    handles = _reference_lines(ax, refs)
    ax.set_ylabel("SVCCA similarity to the dense model")
    ax.set_ylim(0, 1.02)
    layers = [(h, lbl) for h, lbl in zip(*ax.get_legend_handles_labels()) if h not in handles]
    _reference_legend(ax, handles)
    ax.legend([h for h, _ in layers], [lbl for _, lbl in layers], title="layer", fontsize="x-small", loc="lower left")
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


REFERENCE_COLUMNS = {"between_seeds": "ref:\nseeds", "dense_retrained": "ref:\nretrained"}


def bl_fig4(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, conv: str | None = None,
            similarity_controls: pd.DataFrame | None = None, **_: Any) -> None:
    """Layer x sparsity heatmap of SVCCA similarity to the dense model (iterative pruning); the
    controls first, as reference columns (per layer), and as lines at their mean on the colour bar."""
    df = _pick(sim, "bl_fig4", "svcca", method=method, schedule="iterative", retrain="finetune_sgd").copy()
    df["rate"] = _rate_label(df)
    order = df.drop_duplicates("level").sort_values("level")["rate"].tolist()
    pivot = df.pivot_table(index="layer_a", columns="rate", values="similarity").reindex(
        index=_layer_order(df), columns=order)
    refs = control_values(similarity_controls, "svcca", _layer_order(df))
    ref_cols = []
    for key, g in refs.groupby("key", sort=False):
        strategies = refs[refs["control"] == "dense_retrained"]["key"].nunique()
        name = REFERENCE_COLUMNS[g["control"].iloc[0]]
        if ":" in key and strategies > 1:
            name += f"\n({key.split(':')[1]})"
        ref_cols.append(name)
        pivot.insert(len(ref_cols) - 1, name, g.set_index("layer_a")["similarity"].reindex(pivot.index))
    fig, ax = plt.subplots(figsize=(1.6 + 0.75 * pivot.shape[1], 1.2 + 0.45 * pivot.shape[0] + 0.5 * bool(ref_cols)),
                           layout="constrained" if ref_cols else None)
    _heatmap(pivot, ax, "% of prunable weights removed (iterative)" +
             ("\nleft of the white line: references (networks nobody pruned)" if ref_cols else ""))
    if ref_cols:
        ax.tick_params(axis="x", labelrotation=0, labelsize="small")
        ax.tick_params(axis="y", labelrotation=0)
        ax.axvline(len(ref_cols), color="white", lw=3)
        cbar = ax.collections[0].colorbar
        handles = []
        for key, g in refs.groupby("key", sort=False):
            first = g.iloc[0]
            style = CONTROL_STYLE[first["control"]]
            cbar.ax.axhline(first["mean"], lw=2.5, zorder=5, **style)
            handles.append(plt.Line2D([], [], lw=2, **style, label=f"{first['label']}: {first['mean']:.2f}"))
        fig.legend(handles=handles, title="references: mean over layers (lines on the colour bar), per layer "
                   "(columns)", fontsize="x-small", title_fontsize="x-small", loc="outside lower center")
    model = df["model"].iloc[0] if "model" in df else ""
    ax.set_title(f"{title}\n{model} (VGG-style), {method}, iterative, fine-tuned\n{_similarity_note(df, conv)}",
                 fontsize="small")
    _save(fig, outputs, dpi)


def bl_fig5(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str, conv: str | None = None,
            similarity_controls: pd.DataFrame | None = None, **_: Any) -> None:
    """Similarity distributions over layers for re-init vs random sparse init (and fine-tuned
    magnitude pruning for reference), per target sparsity; the controls as reference lines."""
    df = _pick(sim, "bl_fig5", "svcca", method=method, schedule="oneshot").copy()
    df = df[(df["level"] > 0) & df["retrain"].isin(["finetune_sgd", "reinit", "random_reinit"])]
    df["strategy"] = df["retrain"].map(BL_STRATEGIES)
    df["target"] = _rate_label(df)
    order = df.drop_duplicates("level").sort_values("level")["target"].tolist()
    hue_order = [BL_STRATEGIES[r] for r in ("finetune_sgd", "reinit", "random_reinit") if r in set(df["retrain"])]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    sns.boxplot(df, x="target", y="similarity", hue="strategy", order=order, hue_order=hue_order, ax=ax,
                fliersize=2)
    handles = _reference_lines(ax, control_values(similarity_controls, "svcca", _layer_order(df)))
    ax.set_xlabel("sparsity (% of prunable weights removed, one-shot)")
    ax.set_ylabel("SVCCA similarity to the dense model")
    ax.set_ylim(0, 1.02)
    ax.grid(True, axis="y", alpha=0.3)
    boxes = [(h, lbl) for h, lbl in zip(*ax.get_legend_handles_labels()) if h not in handles]
    _reference_legend(ax, handles)
    ax.legend([h for h, _ in boxes], [lbl for _, lbl in boxes], fontsize="small", loc="lower left")
    ax.set_title(f"{title}\n{method}; boxes: the layers; {_similarity_note(df, conv)}", fontsize="medium")
    _save(fig, outputs, dpi)


def bl_metrics(sim: pd.DataFrame, outputs: Sequence[str], title: str, dpi: int, method: str,
               conv: str | None = None, similarity_controls: pd.DataFrame | None = None, **_: Any) -> None:
    """For each sparsity: SVCCA vs PWCCA vs linear CKA (mean over layers, bars: min-max over layers),
    iterative (left) and one-shot strategies (right); the controls as reference lines in each
    measure's colour (dashed: dense vs other seeds; dotted: dense retrained without pruning)."""
    it = _pick(sim, "bl_metrics", method=method, schedule="iterative", retrain="finetune_sgd").copy()
    refs = {m: control_values(similarity_controls, m, _layer_order(it)) for m in METHOD_NAMES}
    with_refs = any(not r.empty for r in refs.values())
    if with_refs:  # the references' legend goes below both panels
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=[1, 1.2], layout="constrained")
    else:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"wspace": 0.25, "width_ratios": [1, 1.2]})
    it["x"] = _rate_label(it)
    order = it.drop_duplicates("level").sort_values("level")["x"].tolist()
    hue = [m for m in METHOD_NAMES if m in set(it["metric"])]
    palette = dict(zip(hue, sns.color_palette(n_colors=len(hue))))
    sns.barplot(it, x="x", y="similarity", hue="metric", order=order, hue_order=hue, palette=palette,
                errorbar=lambda v: (v.min(), v.max()), ax=axes[0])
    axes[0].set_xlabel("% of prunable weights removed (iterative, fine-tuned)")
    axes[0].tick_params(axis="x", labelrotation=45)
    one = sim[(sim["method"] == method) & (sim["schedule"] == "oneshot") & (sim["level"] > 0)].copy()
    if not one.empty:
        one = one[one["retrain"].isin(["finetune_sgd", "reinit", "random_reinit"])]
        one["x"] = one["retrain"].map(BL_STRATEGIES) + "\n" + _rate_label(one)
        order1 = one.sort_values(["retrain", "level"]).drop_duplicates("x")["x"].tolist()
        sns.barplot(one, x="x", y="similarity", hue="metric", order=order1, hue_order=hue, palette=palette,
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
    # the controls: a line per measure (its colour) and control (line style) at the mean over layers
    ref_handles = []
    for key in dict.fromkeys(k for m in hue for k in refs[m]["key"]):
        style = CONTROL_STYLE[key.split(":")[0]]
        values = []
        for m in hue:
            r = refs[m][refs[m]["key"] == key]
            if r.empty:
                continue
            values.append(f"{METHOD_NAMES[m]} {r['mean'].iloc[0]:.2f}")
            label = r["label"].iloc[0]
            for ax in axes:
                ax.axhline(r["mean"].iloc[0], color=palette[m], ls=style["ls"], lw=1.4, zorder=3)
        ref_handles.append(plt.Line2D([], [], color="gray", ls=style["ls"], lw=1.4,
                                      label=f"{label}: {', '.join(values)}"))
    if ref_handles:
        fig.legend(handles=ref_handles, title="references, in each measure's colour (mean over layers)",
                   fontsize="x-small", title_fontsize="x-small", loc="outside lower center")
    fig.suptitle(f"{title} ({method}; does the conclusion depend on the metric?)\n{_similarity_note(it, conv)}",
                 fontsize="medium")
    _save(fig, outputs, dpi)
