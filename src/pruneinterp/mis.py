"""Mechanistic Interpretability Score (Zimmermann, Klindt & Brendel 2024): machine 2-AFC psychophysics
per unit, as used by von Rad & Seuffert 2024.

For a unit, the probe images are ranked by its spatially pooled activation (mean over positions for
conv units; ``pooling``), ties broken at random (seeded). Task t (t < ``n_tasks`` = 20) has the
queries q+ = rank t from the top and q- = rank t from the bottom, and K = 9 positive / negative
explanations at ranks ``n_tasks + n_tasks * j + t`` (j < K) from the top / bottom -- disjoint from the
queries and spread across tasks. With an image similarity s:

    Delta(q) = mean s(q, E+) - mean s(q, E-),    d = Delta(q+) - Delta(q-);

the task is answered correctly when d > 0; its score is sigmoid(alpha * d), or the 0/1 correctness
when alpha is None. MIS = mean score over tasks. Units whose activation range over the probe is
below 1e-8 are constant: they get no score (NaN, n_tasks 0) and are counted separately.

Similarity backends (:data:`BACKENDS`): ``features`` (default, offline, training-free: colour
histogram, oriented-gradient histogram on a 2 x 2 grid and luminance/texture statistics, each block
L2-normalised, s = their cosines averaged with weights 1/2, 1/4, 1/4); ``dreamsim`` and ``lpips`` load those models from a
local weights directory when the user has the packages and weights (nothing is downloaded). All
units of a layer share one similarity matrix over the images any task uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import columns

RESULT_COLUMNS = columns.MIS
CONSTANT_RANGE = 1e-8


@dataclass(frozen=True)
class MISConfig:
    n_tasks: int = 20
    k: int = 9
    alpha: float | None = None
    pooling: str = "mean"  # mean | max over spatial positions
    seed: int = 0

    def min_images(self) -> int:
        return 2 * self.n_tasks * (self.k + 1)


# ---- image similarity backends -----------------------------------------------------------------


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


FEATURE_WEIGHTS = {"colour": 0.5, "gradients": 0.25, "texture": 0.25}


def image_features(images: np.ndarray, weights: dict[str, float] = FEATURE_WEIGHTS) -> np.ndarray:
    """Training-free features of (M, H, W, 3) uint8 images: three L2-normalised blocks scaled by the
    square roots of ``weights``, so the dot product of two rows is the weighted mean of the blocks'
    cosines. Colour weighs as much as the other two together: with equal weights a unit planted on
    redness scored only 0.8 on the shapes probe (the structure blocks vary with the shape and
    texture of whatever is red), with colour at one half it scored 1.0."""
    x = images.astype(np.float64) / 255.0
    m = len(x)
    # colour: 4 x 4 x 4 RGB histogram, Hellinger (square root of frequencies)
    bins = np.minimum((x * 4).astype(np.int64), 3)
    code = bins[..., 0] * 16 + bins[..., 1] * 4 + bins[..., 2]
    hist = np.stack([np.bincount(c.ravel(), minlength=64) for c in code]).astype(np.float64)
    colour = np.sqrt(hist / hist.sum(1, keepdims=True))
    # oriented gradients of luminance: 8 orientations (mod pi), magnitude-weighted, 2 x 2 cells
    lum = x @ np.array([0.299, 0.587, 0.114])
    gy, gx = np.gradient(lum, axis=(1, 2))
    mag = np.hypot(gx, gy)
    ori = np.minimum(((np.arctan2(gy, gx) % np.pi) / np.pi * 8).astype(np.int64), 7)
    h, w = lum.shape[1:]
    cells = []
    for rows in (slice(0, h // 2), slice(h // 2, h)):
        for cols in (slice(0, w // 2), slice(w // 2, w)):
            o, g = ori[:, rows, cols].reshape(m, -1), mag[:, rows, cols].reshape(m, -1)
            cells.append(np.stack([np.bincount(o[i], weights=g[i], minlength=8) for i in range(m)]))
    grad = np.concatenate(cells, axis=1)
    # texture statistics: luminance mean/sd, gradient energy, Laplacian energy (z-scored over the set)
    lap = np.abs(np.gradient(gx, axis=2) + np.gradient(gy, axis=1))
    stats = np.stack([lum.mean((1, 2)), lum.std((1, 2)), mag.mean((1, 2)), lap.mean((1, 2))], axis=1)
    stats = (stats - stats.mean(0)) / np.maximum(stats.std(0), 1e-12)
    w = [np.sqrt(weights[k]) for k in ("colour", "gradients", "texture")]
    return np.concatenate([w[0] * _l2(colour), w[1] * _l2(grad), w[2] * _l2(stats)], axis=1)


def _features_backend(_: str | None) -> Callable[[np.ndarray], np.ndarray]:
    def similarity(images: np.ndarray) -> np.ndarray:
        f = image_features(images)
        return f @ f.T

    return similarity


def _dreamsim_backend(weights: str | None) -> Callable[[np.ndarray], np.ndarray]:
    if not weights or not os.path.isdir(weights):
        raise ValueError(f"mis.backend dreamsim needs mis.weights = a local directory with DreamSim's weights; "
                         f"got {weights!r} (nothing is downloaded)")
    try:
        from dreamsim import dreamsim  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError("mis.backend dreamsim needs the dreamsim package (pip install dreamsim); "
                         "allowed backends without extra packages: features") from None
    model, preprocess = dreamsim(pretrained=True, cache_dir=weights, device="cpu")
    from PIL import Image

    def similarity(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            emb = torch.cat([model.embed(preprocess(Image.fromarray(img))) for img in images])
        emb = torch.nn.functional.normalize(emb, dim=1)
        return (emb @ emb.T).numpy()  # DreamSim distance = 1 - cosine

    return similarity


def _lpips_backend(weights: str | None) -> Callable[[np.ndarray], np.ndarray]:
    if not weights or not os.path.isfile(weights):
        raise ValueError(f"mis.backend lpips needs mis.weights = a local LPIPS weights file (.pth); got {weights!r}")
    try:
        import lpips  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError("mis.backend lpips needs the lpips package (pip install lpips); "
                         "allowed backends without extra packages: features") from None
    model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, model_path=weights, verbose=False)

    def similarity(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        m = len(x)
        out = np.zeros((m, m))
        with torch.no_grad():
            for i in range(m):  # LPIPS is a pairwise network: one row at a time
                out[i] = -model(x[i:i + 1].expand(m, -1, -1, -1), x).view(-1).numpy()
        return out  # similarity = - LPIPS distance

    return similarity


BACKENDS: dict[str, Callable[[str | None], Callable[[np.ndarray], np.ndarray]]] = {
    "features": _features_backend, "dreamsim": _dreamsim_backend, "lpips": _lpips_backend}


def load_backend(name: str, weights: str | None = None) -> Callable[[np.ndarray], np.ndarray]:
    if name not in BACKENDS:
        raise ValueError(f"unknown mis.backend {name!r}; allowed: {', '.join(BACKENDS)}")
    return BACKENDS[name](weights)


# ---- tasks and scores ---------------------------------------------------------------------------


def pooled(acts: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """(N, C, H, W) -> (N, C) by spatial ``pooling``; (N, C) unchanged."""
    if acts.ndim == 2:
        return np.asarray(acts, dtype=np.float64)
    if pooling not in ("mean", "max"):
        raise ValueError(f"unknown mis.pooling {pooling!r}; allowed: mean, max")
    a = np.asarray(acts, dtype=np.float64)
    return a.mean(axis=(2, 3)) if pooling == "mean" else a.max(axis=(2, 3))


@dataclass
class Tasks:
    q_pos: np.ndarray  # (U, T) image rows
    q_neg: np.ndarray  # (U, T)
    e_pos: np.ndarray  # (U, T, K)
    e_neg: np.ndarray  # (U, T, K)


def make_tasks(values: np.ndarray, cfg: MISConfig, unit_ids: np.ndarray | None = None) -> Tasks:
    """Tasks of every unit from pooled activations (N, U); ties broken at random, seeded by
    (``cfg.seed``, unit id) so a unit's tasks do not depend on the other units."""
    n, units = values.shape
    if n < cfg.min_images():
        raise ValueError(f"MIS with {cfg.n_tasks} tasks and {cfg.k} explanations needs at least {cfg.min_images()} "
                         f"probe images (top and bottom {cfg.n_tasks * (cfg.k + 1)} disjoint); got {n}")
    unit_ids = np.arange(units) if unit_ids is None else unit_ids
    t, k = cfg.n_tasks, cfg.k
    shape = (units, t)
    q_pos, q_neg = np.empty(shape, np.int64), np.empty(shape, np.int64)
    e_pos, e_neg = np.empty(shape + (k,), np.int64), np.empty(shape + (k,), np.int64)
    for u in range(units):
        tiebreak = np.random.default_rng([cfg.seed, int(unit_ids[u])]).random(n)
        order = np.lexsort((tiebreak, -values[:, u]))  # descending activation, random among ties
        top, bottom = order[:t * (k + 1)], order[::-1][:t * (k + 1)]
        q_pos[u], q_neg[u] = top[:t], bottom[:t]
        # rank t + t * j + task: task varies fastest -> reshape (k, t) and transpose to (t, k)
        e_pos[u], e_neg[u] = top[t:].reshape(k, t).T, bottom[t:].reshape(k, t).T
    return Tasks(q_pos, q_neg, e_pos, e_neg)


def task_scores(tasks: Tasks, similarity: Callable[[np.ndarray], np.ndarray], images: Callable[[np.ndarray], np.ndarray],
                alpha: float | None = None) -> np.ndarray:
    """(U, T) per-task scores. ``images(rows)`` returns those probe images; the similarity matrix is
    computed once over the union of the images the tasks use."""
    involved = np.unique(np.concatenate([x.ravel() for x in (tasks.q_pos, tasks.q_neg, tasks.e_pos, tasks.e_neg)]))
    s = np.asarray(similarity(images(involved)), dtype=np.float64)
    pos = np.full(int(involved.max()) + 1, -1, np.int64)
    pos[involved] = np.arange(len(involved))
    qp, qn, ep, en = (pos[x] for x in (tasks.q_pos, tasks.q_neg, tasks.e_pos, tasks.e_neg))

    def delta(q: np.ndarray) -> np.ndarray:
        return s[q[..., None], ep].mean(-1) - s[q[..., None], en].mean(-1)

    d = delta(qp) - delta(qn)
    if alpha is None:
        return (d > 0).astype(np.float64)
    return 1.0 / (1.0 + np.exp(-alpha * d))


def mis_layer(acts: np.ndarray, similarity: Callable[[np.ndarray], np.ndarray],
              images: Callable[[np.ndarray], np.ndarray], cfg: MISConfig = MISConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(mis per unit, n_tasks per unit); constant units: NaN and 0."""
    values = pooled(acts, cfg.pooling)
    constant = (values.max(0) - values.min(0)) < CONSTANT_RANGE
    mis = np.full(values.shape[1], np.nan)
    n_tasks = np.zeros(values.shape[1], np.int64)
    live = np.flatnonzero(~constant)
    if len(live):
        scores = task_scores(make_tasks(values[:, live], cfg, live), similarity, images, cfg.alpha)
        mis[live] = scores.mean(1)
        n_tasks[live] = cfg.n_tasks
    return mis, n_tasks
