"""``pruneinterp info FILE``: what a checkpoint, pruned network, activations file or table is.

For a file under a ``results/`` tree the run's identity is read back from its path
(:func:`pruneinterp.paths.parse`); a checkpoint also reports its sparsity and, from the
``metrics.csv`` beside it, its last held-out accuracy; an activations file its Contract-2
attributes and datasets; a table which Contract-3 table its columns make it, and its size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import columns


def _location(path: Path) -> str | None:
    from .paths import RESULTS, parse

    parts = path.resolve().parent.parts
    if RESULTS not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index(RESULTS)
    try:
        loc = parse("/".join(parts[i:]))
    except ValueError:
        return None
    fields = {k: v for k, v in vars(loc).items() if v is not None}
    return ", ".join(f"{k} {v}" for k, v in fields.items())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return str(value.tolist())
    return str(value)


def _checkpoint(path: Path) -> list[str]:
    from .io import load_checkpoint

    ckpt = load_checkpoint(path)
    lines = [f"kind: {'pruned network (masks, before retraining)' if path.name == 'pruned.pt' else 'checkpoint'}",
             f"model: {ckpt.get('model')} {ckpt.get('model_kwargs', {})}"]
    for key in ("seed", "level", "method", "fraction", "retrain", "iteration", "epoch"):
        if key in ckpt:
            lines.append(f"{key}: {_fmt(ckpt[key])}")
    state = ckpt.get("state_dict", {})
    lines.append(f"state: {sum(int(v.numel()) for v in state.values() if hasattr(v, 'numel')):,} values in {len(state)} "
                 "tensors (weights and BatchNorm statistics)")
    layers = (ckpt.get("sparsity") or {}).get("layers") or []
    if layers:
        total = sum(int(t) for _, t, _ in layers)
        remaining = sum(int(r) for _, _, r in layers)
        lines.append(f"prunable weights: {remaining:,} of {total:,} remaining ({100 * remaining / total:.3g}%; "
                     f"{100 * (1 - remaining / total):.3g}% removed) in {len(layers)} layers")
        pruned = [f"{name} {100 * int(r) / int(t):.3g}%" for name, t, r in layers if int(r) < int(t)]
        if pruned:
            lines.append("remaining per pruned layer: " + ", ".join(pruned))
    masks = ckpt.get("masks") or {}
    lines.append(f"masks: {len(masks)}" + (f" ({', '.join(sorted(masks))})" if 0 < len(masks) <= 12 else ""))
    metrics = path.with_name("metrics.csv")
    if path.name == "checkpoint.pt" and metrics.is_file():  # the metrics of the trained network
        import pandas as pd

        m = pd.read_csv(metrics)
        held = m[~m["split"].isin(["train", "train_running"])]
        if len(held):
            last = held[held["epoch"] == held["epoch"].max()]
            lines.append("metrics.csv: " + ", ".join(f"{r.split} top1 {r.top1:.4f} (epoch {r.epoch})"
                                                      for r in last.itertuples()))
    return lines


def _activations(path: Path) -> list[str]:
    from .activations import open_activations

    lines = ["kind: activations (Contract 2)"]
    with open_activations(path) as f:
        for key in sorted(f.attrs):
            lines.append(f"{key}: {_fmt(f.attrs[key])}")
        lines.append(f"images: {len(f['image_index'])}")
        for name, ds in f["layers"].items():
            extra = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(ds.attrs.items()))
            lines.append(f"layer {name}: {ds.dtype} {tuple(ds.shape)}" + (f" ({extra})" if extra else ""))
        for name in ("logits", "targets"):
            if name in f:
                lines.append(f"{name}: {f[name].dtype} {tuple(f[name].shape)}")
    return lines


_TABLES = {name: getattr(columns, name) for name in dir(columns)
           if name.isupper() and isinstance(getattr(columns, name), list) and name not in ("RUN", "ARM", "RUN_KEYS")}


def _table(path: Path) -> list[str]:
    import pandas as pd

    from .io import InputError

    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({type(exc).__name__}: {exc})") from None
    cols = list(df.columns)
    kind = "table (not one of Contract 3)"
    for name, expected in _TABLES.items():
        for prefix in ([], columns.RUN, columns.BASELINE):
            if cols == prefix + [c for c in expected if c not in prefix] or cols == prefix + expected:
                kind = f"{name.lower()} table (Contract 3{', stacked over a study' if prefix else ''})"
                break
        else:
            continue
        break
    lines = [f"kind: {kind}", f"rows: {len(df)}", f"columns: {', '.join(cols)}"]
    for key in ("study", "model", "seed", "method", "schedule", "retrain", "level", "layer", "split"):
        if key in df.columns:
            values = pd.unique(df[key].dropna())
            shown = ", ".join(_fmt(v) for v in values[:8]) + (f", ... ({len(values)} in all)" if len(values) > 8 else "")
            lines.append(f"{key}: {shown}")
    if "interpretable" in df.columns and "unit" in df.columns:
        lines.append(f"interpretable units: {int(df['interpretable'].astype(bool).sum())} of {len(df)}")
    if "mis" in df.columns:
        lines.append(f"mean MIS: {df['mis'].mean():.4f} over {int(df['mis'].notna().sum())} scored units")
    return lines


def describe(path: str | os.PathLike[str]) -> list[str]:
    """Lines that say what ``path`` is."""
    from .io import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".pt":
        lines = _checkpoint(path)
    elif suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            is_acts = "layers" in f and "image_index" in f
        if is_acts:
            lines = _activations(path)
        else:
            with h5py.File(path, "r") as f:
                lines = ["kind: HDF5 (not an activations file)"]
                f.visititems(lambda name, obj: lines.append(f"{name}: {getattr(obj, 'dtype', 'group')} "
                                                            f"{tuple(getattr(obj, 'shape', ()))}"))
    elif suffix == ".csv":
        lines = _table(path)
    else:
        raise InputError(f"{path}: unknown kind of file (info reads .pt checkpoints, .h5 activations, .csv tables)")
    where = _location(path)
    return [str(path)] + ([f"run: {where}"] if where else []) + lines
