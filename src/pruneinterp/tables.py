"""Tidy result tables (DESIGN.md, Contract 3) aggregated over the runs of a study."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from . import columns
from .io import InputError, write_csv

RUN_COLUMNS = columns.RUN
ARM_COLUMNS = columns.ARM


def _read(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"{path}: unreadable table ({exc})") from None


def accuracy_table(metrics_paths: Sequence[str], runs: Sequence[dict[str, Any]], out: str) -> pd.DataFrame:
    """Concatenate per-run metrics, each run's rows taking its identity ``runs[i]`` (so the shared
    dense model's metrics become level 0 of every arm of the study)."""
    if len(metrics_paths) != len(runs):
        raise ValueError(f"{len(metrics_paths)} metrics files for {len(runs)} runs")
    frames = []
    for path, run in zip(metrics_paths, runs):
        df = _read(path)
        for key, value in run.items():
            df[key] = value
        frames.append(df)
    table = pd.concat(frames, ignore_index=True)[columns.METRICS]
    table = table.sort_values(ARM_COLUMNS + ["seed", "level", "epoch", "split"], kind="stable")
    write_csv(table, out)
    return table


def sparsity_table(checkpoint_paths: Sequence[str], runs: Sequence[dict[str, Any]], out: str,
                   include: list[str] | None = None, exclude: list[str] | None = None) -> pd.DataFrame:
    """Explicit sparsity accounting per run: one row per pruned layer (``scope`` layer), the total over
    the prunable weights (``prunable``: the conv/linear weights the study may prune, ``include`` /
    ``exclude``) and over all parameters (``all``: incl. biases and BatchNorm, where masked BatchNorm
    scale/shift of removed channels count as removed). ``effective_sparsity`` (layer and prunable
    rows) also counts the unmasked weights that cannot affect the output (:mod:`pruneinterp.effective`)."""
    from .effective import effective_sparsity
    from .io import load_checkpoint
    from .models import build_model
    from .pruning import select_layers, sparsity

    rows = []
    for path, run in zip(checkpoint_paths, runs):
        ckpt = load_checkpoint(path)
        net = build_model(ckpt["model"], **ckpt["model_kwargs"])
        masks = ckpt.get("masks", {})
        layers = select_layers(net, include, exclude)
        sp = sparsity(net, masks, layers)
        net.load_state_dict(ckpt["state_dict"])  # dead channels depend on BatchNorm's values and statistics
        eff = effective_sparsity(net, masks, layers)
        per_layer = eff.layer_fraction()
        entries = [("layer", name, total, remaining, per_layer[name]) for name, total, remaining in sp.layers]
        entries += [("prunable", "prunable weights", sp.prunable_total, sp.prunable_remaining, eff.fraction),
                    ("all", "all parameters", sp.params_total, sp.params_remaining, float("nan"))]
        for scope, name, total, remaining, effective in entries:
            rows.append({**run, "scope": scope, "name": name, "total": total, "remaining": remaining,
                         "fraction_removed": 1.0 - remaining / total, "effective_sparsity": effective})
    table = pd.DataFrame(rows, columns=columns.SPARSITY)
    write_csv(table, out)
    return table


def _stack(paths: Sequence[str], runs: Sequence[dict[str, Any]], rename: dict[str, str] | None = None
           ) -> pd.DataFrame:
    """Per-run tables with each run's identity as columns (``rename`` first renames clashing columns)."""
    frames = []
    for path, run in zip(paths, runs):
        df = _read(path).rename(columns=rename or {})
        for key, value in run.items():
            df[key] = value
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def summarize_units(units: pd.DataFrame, keys: Sequence[str], categories: Sequence[str] = ()) -> pd.DataFrame:
    """Per (``keys``, layer): units, live units (a non-empty top-quantile mask, i.e. not constant on
    the probe: the dissection gives a dead unit the label ``-``), interpretable units, unique
    concepts, and unique concepts per category (a ``concepts_<category>`` column for each of
    ``categories`` even where always 0)."""
    rows = []
    for key, g in units.groupby(list(keys) + ["layer"], sort=True):
        interp = g[g["interpretable"]]
        row = dict(zip(list(keys) + ["layer"], key))
        row.update(units=len(g), live_units=int((g["label"].astype(str) != "-").sum()),
                   interpretable_units=len(interp), unique_concepts=interp["label"].nunique())
        per_cat = interp.groupby("category")["label"].nunique()
        for cat in list(categories) + [c for c in per_cat.index if c not in categories]:
            row[f"concepts_{cat}"] = int(per_cat.get(cat, 0))
        rows.append(row)
    return pd.DataFrame(rows).fillna(0)


def _with_intervals(summary: pd.DataFrame, boot: pd.DataFrame | None, keys: Sequence[str],
                    level: float = 0.95) -> pd.DataFrame:
    """Add ``<count>_lo`` / ``<count>_hi``: the bootstrap percentile interval of each count."""
    if boot is None or boot.empty:
        return summary
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    g = boot.groupby(list(keys) + ["layer"])[["interpretable_units", "unique_concepts"]].quantile(q).unstack()
    g.columns = [f"{col}_{'lo' if p == q[0] else 'hi'}" for col, p in g.columns]
    return summary.merge(g.reset_index(), on=list(keys) + ["layer"], how="left")


def dissection_tables(unit_paths: Sequence[str], runs: Sequence[dict[str, Any]], accuracy: pd.DataFrame,
                      out_units: str, out_summary: str, categories: Sequence[str] = (),
                      bootstrap_paths: Sequence[str] = (), out_bootstrap: str | None = None,
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack per-run dissection tables with their run identity, and count per run and layer:
    interpretable units, unique concepts, unique concepts per category, and (with the runs'
    bootstrap tables) 95% bootstrap intervals over probe images of the first two."""
    keys = columns.RUN_KEYS
    sparsity = accuracy.drop_duplicates(keys).set_index(keys)["sparsity"]
    runs = [{**run, "sparsity": float(sparsity.loc[tuple(run[k] for k in keys)])} for run in runs]
    units = _stack(unit_paths, runs)
    units = units[RUN_COLUMNS + [c for c in units.columns if c not in RUN_COLUMNS]]
    boot = _stack(bootstrap_paths, runs) if bootstrap_paths else None
    summary = _with_intervals(summarize_units(units, RUN_COLUMNS, categories), boot, RUN_COLUMNS)
    write_csv(units, out_units)
    write_csv(summary, out_summary)
    if out_bootstrap:
        write_csv(boot[RUN_COLUMNS + [c for c in boot.columns if c not in RUN_COLUMNS]] if boot is not None
                  else pd.DataFrame(columns=RUN_COLUMNS), out_bootstrap)
    return units, summary


def dissection_baseline_table(unit_paths: Sequence[str], runs: Sequence[dict[str, Any]], out: str,
                              categories: Sequence[str] = (), bootstrap_paths: Sequence[str] = ()) -> pd.DataFrame:
    """Counts for reference networks that are not part of a pruning chain (``network`` e.g.
    ``random_init``: the untrained initial weights of each seed's dense model)."""
    units = _stack(unit_paths, runs)
    boot = _stack(bootstrap_paths, runs) if bootstrap_paths else None
    summary = _with_intervals(summarize_units(units, columns.BASELINE, categories), boot, columns.BASELINE)
    write_csv(summary, out)
    return summary


def consistency(units: pd.DataFrame) -> pd.DataFrame:
    """Frankle & Bau Fig. 4: of the units interpretable at level 0 (per seed), the % still
    interpretable at each level, and of those interpretable at both, the % with the same label;
    ``dense_interpretable`` and ``both_interpretable`` are the two percentages' denominators."""
    rows = []
    for seed, g in units.groupby("seed"):
        base = g[g["level"] == 0].set_index(["layer", "unit"])
        base = base[base["interpretable"]]
        for level, lv in g.groupby("level"):
            sparsity = float(lv["sparsity"].iloc[0])
            lv = lv.set_index(["layer", "unit"]).loc[base.index]
            both = lv["interpretable"]
            same = (lv.loc[both, "label"] == base.loc[both, "label"])
            rows.append({"seed": seed, "level": level, "sparsity": sparsity,
                         "dense_interpretable": len(base), "both_interpretable": int(both.sum()),
                         "pct_still_interpretable": 100.0 * both.mean() if len(base) else float("nan"),
                         "pct_same_concept": 100.0 * same.mean() if both.any() else float("nan")})
    return pd.DataFrame(rows)


def similarity_table(paths: Sequence[str], runs: Sequence[dict[str, Any]], out: str,
                     accuracy: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-run similarity tables (Contract 3) stacked by :func:`run_table`; the similarity measure's
    column ``method`` is renamed ``metric``, since ``method`` names the pruning method of the run."""
    return run_table(paths, runs, out, accuracy, rename={"method": "metric"})


def run_table(paths: Sequence[str], runs: Sequence[dict[str, Any]], out: str,
              accuracy: pd.DataFrame | None = None, rename: dict[str, str] | None = None) -> pd.DataFrame:
    """Stack per-run tables (MIS, per-class accuracy, similarity) with their run identity
    (``runs[i]``) and, given the study's accuracy table, the run's measured sparsity; ``rename``
    renames columns of the per-run tables first (where they clash with the identity)."""
    if accuracy is not None:
        keys = columns.RUN_KEYS
        sparsity = accuracy.drop_duplicates(keys).set_index(keys)["sparsity"]
        runs = [{**run, "sparsity": float(sparsity.loc[tuple(run[k] for k in keys)])} for run in runs]
    table = _stack(paths, runs, rename)
    ident = list(runs[0]) if runs else []
    table = table[ident + [c for c in table.columns if c not in ident]]
    write_csv(table, out)
    return table
