"""Unit galleries: what each unit of the dissected layer looks at, NetDissect-style, across the
pruning levels of one chain, and MIS tasks as a participant sees them.

For each chosen checkpoint and each unit: its ``top_k`` probe images (ranked by the unit's maximum
activation over positions, as NetDissect ranks them) with the unit's mask drawn over them (the
activation map upsampled to the image as the dissection upsampled it -- bilinear, or NetDissect's
receptive-field interpolation -- and thresholded at the unit's dissection threshold T_k; outside
the mask the image is dimmed), with the unit's best label, category and IoU.
The page has one row per unit (sorted by its IoU in the first checkpoint, normally the dense
network) and one column per checkpoint, so the same unit can be followed across levels (the
visual version of Frankle & Bau's Fig. 4); interpretable units are marked. Below, for the best,
median and worst units by MIS in the first checkpoint, one MIS task: the K most and K least
activating explanations, the two queries in the order a participant would see them, and the
machine observer's answer and confidence.

Checkpoints (:func:`choose_levels`): by default the dense network, the middle level of the chain
and the last level whose accuracy is within ``within`` points of the dense network's.

Output: one PNG per checkpoint and unit plus the MIS panels under the gallery directory, and an
``index.html`` that holds them inline (data URIs), so the page is complete on its own and as a
Snakemake report entry.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class GalleryConfig:
    levels: tuple[int, ...] | None = None  # None: dense, the middle level, the last within `within` points
    within: float = 2.0  # top-1 points below the dense model that still count as "accurate"
    top_k: int = 5
    scale: int = 2  # thumbnails are the probe images enlarged this many times (nearest neighbour)
    mis_units: int = 3  # best, median, worst (and more, evenly spaced, if larger)


def choose_levels(accuracy: pd.DataFrame, within: float = 2.0) -> list[int]:
    """Levels of one chain (rows: ``level``, ``top1`` in [0, 1]): 0, the middle level, and the last
    level whose top-1 is within ``within`` points of level 0's; sorted, without repeats."""
    acc = accuracy.sort_values("level")
    levels = acc["level"].astype(int).tolist()
    dense = float(acc.loc[acc["level"] == 0, "top1"].iloc[0])
    ok = acc[100 * (dense - acc["top1"]) <= within]["level"].astype(int).tolist()
    chosen = {0, levels[len(levels) // 2], max(ok) if ok else 0}
    return sorted(chosen)


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def unit_masks(maps: np.ndarray, thresholds: np.ndarray, size: tuple[int, int], fieldmap: "np.ndarray | None" = None,
               input_size: "tuple[int, int] | None" = None) -> np.ndarray:
    """(m, h, w) maps of units with thresholds (m,) -> (m, H, W) masks, upsampled exactly as the
    dissection upsampled them (:func:`pruneinterp.dissection.upsampler`: bilinear, or NetDissect's
    receptive-field interpolation given the layer's ``fieldmap``), so the drawn mask is the one the
    IoU counted, at the image's resolution."""
    import torch

    from .dissection import upsampler

    a = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32) - np.asarray(thresholds, np.float32)[:, None, None])
    up = upsampler(a.shape[1], a.shape[2], size, fieldmap, input_size)(a[:, None])
    return (up[:, 0] > 0).numpy()


def overlay(image: np.ndarray, mask: np.ndarray, scale: int = 2) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with ``mask`` (H, W): outside it dimmed to 30%, its edge (mask pixels
    with a 4-neighbour outside) drawn in yellow; enlarged ``scale`` times."""
    out = image.astype(np.float32)
    out[~mask] *= 0.3
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
        mask = mask.repeat(scale, 0).repeat(scale, 1)
    m = np.pad(mask, 1, constant_values=False)
    edge = mask & ~(m[2:, 1:-1] & m[:-2, 1:-1] & m[1:-1, 2:] & m[1:-1, :-2])
    out[edge] = (255, 220, 0)
    return out.clip(0, 255).astype(np.uint8)


def strip(tiles: Sequence[np.ndarray], gap: int = 2, fill: int = 255) -> np.ndarray:
    """Images of one size side by side with ``gap`` white pixels between them."""
    h, w = tiles[0].shape[:2]
    out = np.full((h, len(tiles) * (w + gap) - gap, 3), fill, np.uint8)
    for i, t in enumerate(tiles):
        out[:, i * (w + gap):i * (w + gap) + w] = t
    return out


def top_images(acts: np.ndarray, k: int) -> np.ndarray:
    """(C, k) rows of the ``k`` images with the highest maximum activation per unit (ties: lower row)."""
    peak = acts.reshape(acts.shape[0], acts.shape[1], -1).max(-1)  # (N, C)
    return np.argsort(-peak, axis=0, kind="stable")[:k].T


@dataclass
class Checkpoint:
    level: int
    remaining: float  # % of prunable weights
    top1: float  # %
    acts: np.ndarray  # (N, C, h, w) of the layer
    image_index: np.ndarray  # probe rows of the activation rows
    units: pd.DataFrame  # dissection table rows of the layer, indexed by unit
    fieldmap: np.ndarray | None = None  # the layer's receptive fields, when dissection used them
    input_size: tuple[int, int] | None = None


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def render_units(checkpoints: list[Checkpoint], probe: Any, out_dir: Path, cfg: GalleryConfig) -> tuple[str, int]:
    """Write one PNG per checkpoint and unit; return the HTML table and the number of PNGs."""
    first = checkpoints[0]
    order = first.units.sort_values("iou", ascending=False, kind="stable").index.tolist()
    cells: dict[tuple[int, int], str] = {}
    written = 0
    for cp in checkpoints:
        tops = top_images(cp.acts, cfg.top_k)
        rows = np.unique(tops)
        imgs = dict(zip(rows.tolist(), probe.images(cp.image_index[rows])))
        units = np.repeat(np.asarray(order), tops.shape[1])
        picked = tops[order].ravel()
        size = next(iter(imgs.values())).shape[:2]
        masks = unit_masks(cp.acts[picked, units], cp.units.loc[units, "threshold"].to_numpy(), size,
                           cp.fieldmap, cp.input_size).reshape(len(order), tops.shape[1], *size)
        for i, unit in enumerate(order):
            row = cp.units.loc[unit]
            tiles = [overlay(imgs[int(r)], masks[i, j], cfg.scale) for j, r in enumerate(tops[unit])]
            png = _png(strip(tiles))
            name = f"level{cp.level}_unit{unit}.png"
            (out_dir / name).write_bytes(png)
            written += 1
            star = "★ " if bool(row["interpretable"]) else ""
            cls = " class='interp'" if bool(row["interpretable"]) else ""
            cells[(cp.level, unit)] = (
                f"<td{cls}><img src='{_data_uri(png)}' alt='unit {unit}, level {cp.level}' title='{html.escape(name)}'>"
                f"<br>{star}{html.escape(str(row['label']))} ({html.escape(str(row['category']))}), "
                f"IoU {float(row['iou']):.3f}</td>")
    head = "".join(f"<th>level {cp.level}: {cp.remaining:.3g}% of weights, top-1 {cp.top1:.1f}%</th>"
                   for cp in checkpoints)
    body = "".join(f"<tr><th>unit {u}</th>" + "".join(cells[(cp.level, u)] for cp in checkpoints) + "</tr>"
                   for u in order)
    return f"<table><tr><th></th>{head}</tr>{body}</table>", written


def render_mis(cp: Checkpoint, probe: Any, out_dir: Path, cfg: GalleryConfig, mis_cfg: Any, backend: str,
               weights: str | None, layer: str) -> str:
    """One task of the best, median and worst units by MIS confidence in checkpoint ``cp``."""
    from .mis import ROW_BACKENDS, confidence, load_backend, score_layer

    similarity = load_backend(backend, weights, probe)
    items = ((lambda rows: cp.image_index[rows]) if backend in ROW_BACKENDS
             else (lambda rows: probe.images(cp.image_index[rows])))
    scores = score_layer(cp.acts, similarity, items, mis_cfg, softmax=layer in mis_cfg.softmax_layers)
    if scores.tasks is None:
        return "<p>No unit of this layer varies on the probe: no MIS task.</p>"
    d, live = scores.margins, scores.live  # (live units, tasks)
    conf = scores.confidence[live]
    ranked = np.argsort(-conf, kind="stable")
    picks = np.unique(np.linspace(0, len(ranked) - 1, max(2, cfg.mis_units)).round().astype(int))
    rng = np.random.default_rng(mis_cfg.seed)
    parts = []
    for p in picks:
        j = int(ranked[p])
        unit = int(live[j])
        t = scores.tasks
        rows = {"max": t.e_pos[j, 0], "min": t.e_neg[j, 0], "q": np.array([t.q_pos[j, 0], t.q_neg[j, 0]])}
        flip = bool(rng.random() < 0.5)  # the side the positive query is shown on
        imgs = {k: probe.images(cp.image_index[v]) for k, v in rows.items()}
        enlarge = lambda a: a.repeat(cfg.scale, 0).repeat(cfg.scale, 1)  # noqa: E731
        panel = {k: _png(strip([enlarge(x) for x in v])) for k, v in imgs.items()}
        queries = [enlarge(imgs["q"][1]), enlarge(imgs["q"][0])] if flip else [enlarge(imgs["q"][0]), enlarge(imgs["q"][1])]
        panel["q"] = _png(strip(queries, gap=12))
        for key, png in panel.items():
            (out_dir / f"mis_unit{unit}_{key}.png").write_bytes(png)
        margin = float(d[j, 0])
        answer = ("right" if flip else "left") if margin > 0 else ("left" if flip else "right")
        truth = "right" if flip else "left"
        rank = {0: "best", len(ranked) - 1: "worst"}.get(int(p), "median" if int(p) == len(ranked) // 2 else f"rank {p + 1}")
        parts.append(
            f"<h3>unit {unit} ({rank} of {len(ranked)} by MIS): MIS {scores.confidence[unit]:.3f}, "
            f"0/1 accuracy {scores.accuracy[unit]:.2f}</h3>"
            f"<p>Explanations, most activating (the unit fires):<br><img src='{_data_uri(panel['max'])}'></p>"
            f"<p>Explanations, least activating:<br><img src='{_data_uri(panel['min'])}'></p>"
            f"<p>Queries: which of the two is the strongly activating one?<br><img src='{_data_uri(panel['q'])}'></p>"
            f"<p>Machine observer ({html.escape(backend)}): answers <b>{answer}</b> "
            f"({'correct' if answer == truth else 'wrong'}; the strongly activating query is on the {truth}); "
            f"margin d = {margin:+.3f}, confidence sigmoid(αd) = {float(confidence(margin, mis_cfg.alpha)):.3f}.</p>")
    return "".join(parts)


def write_gallery(accuracy: str, activations: Sequence[str], dissections: Sequence[str], levels: Sequence[int],
                  probe_dir: str, out_html: str, out_dir: str, seed: int, layer: str,
                  cfg: "GalleryConfig | dict | None" = None, mis: "Any | dict | None" = None,
                  backend: str = "concepts", weights: str | None = None, title: str = "",
                  chain: dict[str, str] | None = None, upsample: str = "bilinear") -> list[int]:
    """The gallery of one pruning chain: ``activations[i]`` / ``dissections[i]`` belong to level
    ``levels[i]``; the checkpoints drawn are chosen from ``accuracy`` (the study's accuracy table,
    filtered to this seed and the ``chain``'s method, schedule and retrain) unless ``cfg.levels``
    names them. Returns the levels drawn."""
    import shutil
    import tempfile

    from .activations import check_probe, open_activations
    from .data.broden import Probe
    from .io import InputError, atomic_path
    from .mis import MISConfig
    from .settings import as_config

    config = as_config(GalleryConfig, cfg)
    mis_cfg = as_config(MISConfig, mis)
    acc = pd.read_csv(accuracy)
    keep = (acc["seed"] == seed) & (acc["split"] == "val")
    for key, value in (chain or {}).items():  # the arm: method, schedule, retrain
        keep &= acc[key] == value
    rows = acc[keep]
    rows = rows[rows["epoch"] == rows.groupby("level")["epoch"].transform("max")]
    if rows.empty:
        raise InputError(f"{accuracy}: no validation rows for seed {seed} {chain or ''}")
    chosen = sorted(config.levels) if config.levels else choose_levels(rows, config.within)
    by_level = dict(zip(map(int, levels), zip(activations, dissections)))
    missing = [lv for lv in chosen if lv not in by_level]
    if missing:
        raise InputError(f"gallery levels {missing} are not levels of this chain (it has {sorted(by_level)})")
    probe = Probe(probe_dir)
    checkpoints = []
    for lv in chosen:
        a_path, d_path = by_level[lv]
        with open_activations(a_path) as f:
            image_index = check_probe(f, a_path, probe, probe_dir)
            if layer not in f["layers"]:
                raise InputError(f"{a_path}: no layer {layer!r}; available: {', '.join(f['layers'])}")
            acts = f["layers"][layer][:]
            geometry = {}
            if upsample == "fieldmap":  # as dissect.upsample: the masks the IoU counted
                if "fieldmap" not in f["layers"][layer].attrs or "input_size" not in f.attrs:
                    raise InputError(f"{a_path}: layer {layer!r} has no receptive-field map for "
                                     "dissect.upsample fieldmap; extract it again")
                geometry = {"fieldmap": f["layers"][layer].attrs["fieldmap"],
                            "input_size": tuple(int(v) for v in f.attrs["input_size"])}
        units = pd.read_csv(d_path)
        units = units[units["layer"] == layer].set_index("unit")
        row = rows[rows["level"] == lv].iloc[0]
        checkpoints.append(Checkpoint(lv, 100 * (1 - float(row["sparsity"])), 100 * float(row["top1"]), acts,
                                      image_index, units, **geometry))
    out_dir_p = Path(out_dir)
    out_dir_p.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir_p.name}.", suffix=".tmp", dir=out_dir_p.parent))
    try:
        table, _ = render_units(checkpoints, probe, tmp_dir, config)
        mis_html = render_mis(checkpoints[0], probe, tmp_dir, config, mis_cfg, backend, weights, layer)
        levels_text = ", ".join(f"level {c.level} ({c.remaining:.3g}% of prunable weights, top-1 {c.top1:.1f}%)"
                                for c in checkpoints)
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title or f'Units of {layer}, seed {seed}')}</title><style>"
            "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ddd;padding:4px;font-size:12px;vertical-align:top;text-align:left}"
            "td.interp{background:#e8f5e9}img{image-rendering:pixelated}</style></head><body>"
            f"<h1>{html.escape(title or f'Units of {layer}, seed {seed}')}</h1>"
            f"<p>Checkpoints: {html.escape(levels_text)}. Each cell: the unit's {config.top_k} probe images with the "
            "highest maximum activation, its mask over them (activation above the unit's dissection threshold; "
            "outside dimmed, edge in yellow), its best label (category) and IoU; ★ and green: interpretable. "
            f"Rows: units sorted by their IoU at level {checkpoints[0].level}.</p>{table}"
            f"<h2>MIS tasks at level {checkpoints[0].level}</h2>{mis_html}</body></html>\n")
        (tmp_dir / "index.html").write_text(page)
        if out_dir_p.exists():
            shutil.rmtree(out_dir_p)
        with atomic_path(out_html) as tmp_html:
            shutil.copyfile(tmp_dir / "index.html", tmp_html)
            (tmp_dir / "index.html").unlink()
            tmp_dir.rename(out_dir_p)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)
    return chosen
