"""Mechanistic Interpretability Score (Zimmermann, Klindt & Brendel 2024): machine 2-AFC psychophysics
per unit, as used by von Rad & Seuffert 2024.

Task construction, as the IMI/MIS stimulus code builds it (brendel-group/imi,
``stimuli_generation/extract_exemplars.py``). For a unit, the probe images are ranked by its spatially
pooled activation (``pooling``; the class units of ``softmax_layers`` on softmax outputs, the paper's
"softmax layer"), ties broken at random (seeded). On each side (``max``: from the top; ``min``: from
the bottom), with N = ``n_tasks`` and K = ``k``:

* the **explanations** are the N·K most (least) activating images, cut into K rank bins of N images
  (ranks 0..N-1, N..2N-1, ...); every bin is shuffled and task t takes the t-th image of every bin,
  so each task gets one explanation from each bin ("fair batches");
* the **queries** are the N images at ranks N·K + ``query_offset`` .. N·K + ``query_offset`` + N - 1
  of that side, shuffled, one per task: less extreme than every explanation of the side, never
  overlapping them.

Both sides together need 2·(N·K + offset + N) distinct images. With an image similarity s and the
explanations E+ (max side) and E- (min side) of a task,

    Delta(q) = mean s(q, E+) - mean s(q, E-),    d = Delta(q+) - Delta(q-);

the machine answers correctly when d > 0. Per unit this module reports both the **accuracy** (mean of
the 0/1 correctness over tasks) and the **confidence** (mean of sigmoid(alpha * d)), which is the MIS
of Zimmermann et al. and of von Rad & Seuffert's figures. ``alpha`` is in units of 1 / (similarity):
it has to be set against the backend's scale of d. :func:`null_scale` measures that scale (the
standard deviation of d over tasks of units with random activations, i.e. of chance-level tasks);
the default alpha of the offline ``features`` backend is documented in README ("MIS"). Units whose
activation range over the probe is below 1e-8 are constant: they get no score (NaN, n_tasks 0) and
are counted separately.

Similarity backends (:data:`BACKENDS`): ``concepts`` (default, offline: an observer who sees the
probe's annotated concepts, :func:`concept_features`; it compares probe rows, not pixels);
``features`` (offline, training-free pixel statistics: colour histogram, oriented-gradient histogram
on a 2 x 2 grid and luminance/texture statistics, each block L2-normalised, s = their cosines averaged
with the weights :data:`FEATURE_WEIGHTS`; blind to shape on the shapes probe, see the tests);
``dreamsim`` and ``lpips`` load those models from a local weights directory when the user has the
packages and weights (nothing is downloaded). All units of a layer share one similarity matrix over
the images any task uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import columns
from .progress import Progress

if TYPE_CHECKING:
    import pandas as pd

    from .data.broden import Probe

RESULT_COLUMNS = columns.MIS
CONSTANT_RANGE = 1e-8
# sigmoid(alpha * d) of the concepts backend: 2 / (sd of d over chance-level tasks), rounded, measured
# on the shapes probe before its class context (sd 0.086; the final default probe gives 0.092, i.e.
# 21.9; bench/mis_alpha.py, README "MIS"; re-measure for another probe or backend)
DEFAULT_ALPHA = 23.0


@dataclass(frozen=True)
class MISConfig:
    n_tasks: int = 10
    k: int = 9
    alpha: float = DEFAULT_ALPHA
    query_offset: int = 0  # queries start this many ranks beyond the last explanation of their side
    pooling: str = "mean"  # mean | max over spatial positions
    softmax_layers: tuple[str, ...] = ("fc",)  # class units: ranked on softmax outputs
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_tasks < 1 or self.k < 1 or self.query_offset < 0:
            raise ValueError(f"mis: n_tasks and k must be >= 1 and query_offset >= 0; got n_tasks={self.n_tasks}, "
                             f"k={self.k}, query_offset={self.query_offset}")
        if not self.alpha > 0:
            raise ValueError(f"mis.alpha must be a positive number; got {self.alpha!r}")

    def side_images(self) -> int:
        """Images one side uses: N·K explanations, the offset, N queries."""
        return self.n_tasks * (self.k + 1) + self.query_offset

    def min_images(self) -> int:
        return 2 * self.side_images()


# ---- image similarity backends -----------------------------------------------------------------


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


FEATURE_WEIGHTS = {"colour": 0.5, "gradients": 0.25, "texture": 0.25}


def image_features(images: np.ndarray, weights: dict[str, float] = FEATURE_WEIGHTS) -> np.ndarray:
    """Training-free features of (M, H, W, 3) uint8 images: three L2-normalised blocks scaled by the
    square roots of ``weights``, so the dot product of two rows is the weighted mean of the blocks'
    cosines. Colour weighs as much as the other two together: on the earlier two-band probe, with
    equal weights a unit planted on redness scored only 0.8 (the structure blocks vary with the shape
    and texture of whatever is red), with colour at one half 1.0. No weighting makes these features
    see the classes' shapes (``tests/test_mis.py``), which is why ``concepts`` is the default."""
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


DREAMSIM_FILES = ("dino_vitb16_pretrain.pth", "open_clip_vitb16_pretrain.pth.tar", "clip_vitb16_pretrain.pth.tar",
                  "dino_vitb16_lora", "open_clip_vitb16_lora", "clip_vitb16_lora")  # dreamsim.model.download_weights
LPIPS_FILES = ("alex.pth", "hub/checkpoints/alexnet-owt-7be5be79.pth")  # LPIPS v0.1 head; torchvision's AlexNet


def _require_files(backend: str, weights: str | None, files: tuple[str, ...]) -> str:
    """The weights directory, after checking that it holds every file the backend would otherwise
    download (its library downloads whatever is missing; nothing here may touch the network)."""
    if not weights or not os.path.isdir(weights):
        raise ValueError(f"mis.backend {backend} needs mis.weights = a local directory with {', '.join(files)}; "
                         f"got {weights!r} (nothing is downloaded)")
    missing = [f for f in files if not os.path.exists(os.path.join(weights, f))]
    if missing:
        raise ValueError(f"{weights}: mis.backend {backend} needs {', '.join(missing)} there (nothing is downloaded)")
    return weights


def _dreamsim_backend(weights: str | None, device: "object" = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    weights = _require_files("dreamsim", weights, DREAMSIM_FILES)
    try:
        from dreamsim import dreamsim  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError("mis.backend dreamsim needs the dreamsim package (pip install dreamsim); "
                         "allowed backends without extra packages: concepts, features") from None
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # its LoRA adapters are read with peft: local only
    model, preprocess = dreamsim(pretrained=True, cache_dir=weights, device=str(device))
    from PIL import Image

    def similarity(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            emb = torch.cat([model.embed(preprocess(Image.fromarray(img)).to(device)) for img in images])
        emb = torch.nn.functional.normalize(emb, dim=1)
        return (emb @ emb.T).cpu().numpy()  # DreamSim distance = 1 - cosine

    return similarity


def _lpips_backend(weights: str | None, device: "object" = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    weights = _require_files("lpips", weights, LPIPS_FILES)
    try:
        import lpips  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError("mis.backend lpips needs the lpips package (pip install lpips); "
                         "allowed backends without extra packages: concepts, features") from None
    import torch

    # LPIPS = a linear head on a pretrained AlexNet: torchvision finds the AlexNet weights in
    # TORCH_HOME/hub/checkpoints (the weights directory) instead of downloading them
    previous = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = weights
    try:
        model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=False,
                            model_path=os.path.join(weights, "alex.pth"), verbose=False)
    finally:
        if previous is None:
            os.environ.pop("TORCH_HOME", None)
        else:
            os.environ["TORCH_HOME"] = previous
    model = model.to(device).eval()

    def similarity(images: np.ndarray) -> np.ndarray:
        x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0).to(device)
        m = len(x)
        out = np.zeros((m, m))
        with torch.no_grad():
            for i in range(m):  # LPIPS is a pairwise network: one row at a time
                out[i] = -model(x[i:i + 1].expand(m, -1, -1, -1), x).view(-1).cpu().numpy()
        return out  # similarity = - LPIPS distance

    return similarity


def concept_features(probe: "Probe", rows: np.ndarray, weights: dict[str, float] | None = None) -> np.ndarray:
    """What an observer who perceives exactly the probe's annotated concepts sees in each image:
    per category, the share of the image's segmentation pixels each label covers (image-level labels
    such as scenes cover all of it), square-rooted (Hellinger) and L2-normalised per category, the
    blocks scaled by the square roots of ``weights`` (default: equal over the probe's categories).
    The dot product of two rows is then the weighted mean of the per-category cosines; a category
    absent from both images contributes 0."""
    rows = np.asarray(rows, dtype=np.int64)
    cats = probe.categories
    weights = weights or {c: 1.0 / len(cats) for c in cats}
    n_labels = len(probe.labels)
    cover = np.zeros((len(rows), n_labels))
    for size in {(int(probe._sh[r]), int(probe._sw[r])) for r in rows}:  # label_entries wants one size
        sel = np.flatnonzero([(int(probe._sh[r]), int(probe._sw[r])) == size for r in rows])
        e = probe.label_entries(rows[sel])
        np.add.at(cover, (sel[e.pix_img], e.pix_col), 1.0 / e.pixels)
        cover[sel[e.img_img], e.img_col] = 1.0
    blocks = []
    for k, cat in enumerate(cats):
        cols = np.flatnonzero(probe.label_category == k)
        blocks.append(np.sqrt(weights.get(cat, 0.0)) * _l2(np.sqrt(cover[:, cols])))
    return np.concatenate(blocks, axis=1)


def _concepts_backend(_: str | None, probe: "Probe | None" = None) -> Callable[[np.ndarray], np.ndarray]:
    if probe is None:
        raise ValueError("mis.backend concepts needs the probe (its concept annotations)")

    cache: dict[int, np.ndarray] = {}  # probe row -> features: a layer's tasks reuse most rows, and
    # decoding their segmentations is most of the stage's time

    def similarity(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        missing = np.unique([r for r in rows.tolist() if r not in cache]).astype(np.int64)
        if len(missing):
            cache.update(zip(missing.tolist(), concept_features(probe, missing)))
        f = np.stack([cache[r] for r in rows.tolist()])
        return f @ f.T

    return similarity


BACKENDS: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "concepts": _concepts_backend, "features": _features_backend, "dreamsim": _dreamsim_backend,
    "lpips": _lpips_backend}
ROW_BACKENDS = {"concepts"}  # compare probe rows (annotations), not pixels
NETWORK_BACKENDS = {"dreamsim", "lpips"}  # a network embeds the images: runs on the device


def load_backend(name: str, weights: str | None = None, probe: "Probe | None" = None,
                 device: str = "cpu") -> Callable[[np.ndarray], np.ndarray]:
    """The similarity function of backend ``name``: over images (M, H, W, 3) uint8, or over probe
    rows for the backends in :data:`ROW_BACKENDS`. The network backends run on ``device`` (cpu,
    cuda, auto); the others are numpy on the CPU (and import no torch)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown mis.backend {name!r}; allowed: {', '.join(BACKENDS)}")
    if name in ROW_BACKENDS:
        return BACKENDS[name](weights, probe)
    if name in NETWORK_BACKENDS:
        from .training import resolve_device

        return BACKENDS[name](weights, resolve_device(device))
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
    """Image rows (and their ranks from their side's end, 0 = most extreme) of every unit's tasks."""

    q_pos: np.ndarray  # (U, T) image rows
    q_neg: np.ndarray  # (U, T)
    e_pos: np.ndarray  # (U, T, K)
    e_neg: np.ndarray  # (U, T, K)
    rank_q_pos: np.ndarray  # same shapes: rank of each image from its side's end
    rank_q_neg: np.ndarray
    rank_e_pos: np.ndarray
    rank_e_neg: np.ndarray

    def table(self, units: np.ndarray | None = None) -> "pd.DataFrame":
        """The audit table ``unit,task,side,role,image,rank`` (one row per image of every task)."""
        import pandas as pd

        u_count, t_count, k = self.e_pos.shape
        units = np.arange(u_count) if units is None else np.asarray(units)
        parts = []
        for side, (q, rq, e, re) in {"max": (self.q_pos, self.rank_q_pos, self.e_pos, self.rank_e_pos),
                                     "min": (self.q_neg, self.rank_q_neg, self.e_neg, self.rank_e_neg)}.items():
            for role, img, rank, per in (("explanation", e, re, k), ("query", q[..., None], rq[..., None], 1)):
                parts.append(pd.DataFrame({
                    "unit": np.repeat(units, t_count * per), "task": np.tile(np.repeat(np.arange(t_count), per), u_count),
                    "side": side, "role": role, "image": img.ravel(), "rank": rank.ravel()}))
        return (pd.concat(parts, ignore_index=True).sort_values(["unit", "task", "side", "role", "rank"], kind="stable")
                .reset_index(drop=True))


def _side(order: np.ndarray, cfg: MISConfig, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One side's (queries, query ranks, explanations, explanation ranks) from its ``order`` (most
    extreme first): IMI's fair batches over the N·K most extreme images, queries beyond them."""
    t, k = cfg.n_tasks, cfg.k
    bins = np.arange(t * k).reshape(k, t)  # bin j = ranks j·N .. (j+1)·N - 1
    bins = np.stack([rng.permutation(b) for b in bins])  # shuffle every bin
    e_rank = bins.T  # task i takes the i-th image of every bin: (T, K)
    q_rank = t * k + cfg.query_offset + rng.permutation(t)
    return order[q_rank], q_rank, order[e_rank], e_rank


def make_tasks(values: np.ndarray, cfg: MISConfig, unit_ids: np.ndarray | None = None) -> Tasks:
    """Tasks of every unit from pooled activations (N, U). Ties and the shuffles of the rank bins
    are seeded by (``cfg.seed``, unit id), so a unit's tasks do not depend on the other units."""
    n, units = values.shape
    if n < cfg.min_images():
        raise ValueError(f"MIS with {cfg.n_tasks} tasks, {cfg.k} explanations and query offset {cfg.query_offset} "
                         f"needs at least {cfg.min_images()} probe images ({cfg.side_images()} per side, disjoint); "
                         f"got {n}")
    unit_ids = np.arange(units) if unit_ids is None else unit_ids
    t, k = cfg.n_tasks, cfg.k
    out = {name: np.empty((units, t), np.int64) for name in ("q_pos", "q_neg", "rank_q_pos", "rank_q_neg")}
    out |= {name: np.empty((units, t, k), np.int64) for name in ("e_pos", "e_neg", "rank_e_pos", "rank_e_neg")}
    for u in range(units):
        rng = np.random.default_rng([cfg.seed, int(unit_ids[u])])
        tiebreak = rng.random(n)
        top = np.lexsort((tiebreak, -values[:, u]))  # descending activation, random among ties
        bottom = np.lexsort((-tiebreak, values[:, u]))  # exactly the reverse of ``top``
        for suffix, order in (("pos", top), ("neg", bottom)):
            q, rq, e, re = _side(order, cfg, rng)
            out[f"q_{suffix}"][u], out[f"rank_q_{suffix}"][u] = q, rq
            out[f"e_{suffix}"][u], out[f"rank_e_{suffix}"][u] = e, re
    return Tasks(**out)


def task_margins(tasks: Tasks, similarity: Callable[[np.ndarray], np.ndarray],
                 images: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(U, T) margins d = Delta(q+) - Delta(q-) of every task. ``images(rows)`` returns those probe
    images; the similarity matrix is computed once over the union of the images the tasks use."""
    involved = np.unique(np.concatenate([x.ravel() for x in (tasks.q_pos, tasks.q_neg, tasks.e_pos, tasks.e_neg)]))
    s = np.asarray(similarity(images(involved)), dtype=np.float64)
    pos = np.full(int(involved.max()) + 1, -1, np.int64)
    pos[involved] = np.arange(len(involved))
    qp, qn, ep, en = (pos[x] for x in (tasks.q_pos, tasks.q_neg, tasks.e_pos, tasks.e_neg))

    def delta(q: np.ndarray) -> np.ndarray:
        return s[q[..., None], ep].mean(-1) - s[q[..., None], en].mean(-1)

    return delta(qp) - delta(qn)


def confidence(d: np.ndarray, alpha: float) -> np.ndarray:
    """sigmoid(alpha * d), computed without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * alpha * np.asarray(d, dtype=np.float64)))


def null_scale(similarity: Callable[[np.ndarray], np.ndarray], images: Callable[[np.ndarray], np.ndarray],
               n_images: int, cfg: MISConfig = MISConfig(), units: int = 200, seed: int = 0) -> float:
    """The scale of d at chance: its standard deviation over the tasks of ``units`` units with
    random activations on ``n_images`` probe images. The default alpha is ``2 / null_scale`` on the
    default probe (bench/mis_alpha.py): a margin of two chance-level standard deviations of d gets
    confidence sigmoid(2) = 0.88."""
    values = np.random.default_rng(seed).random((n_images, units))
    return float(task_margins(make_tasks(values, cfg), similarity, images).std())


@dataclass
class LayerScores:
    """Per unit: MIS confidence (mean sigmoid(alpha * d)), 0/1 accuracy, number of tasks, and the
    tasks and their margins d (rows: the ``live`` units; None when every unit is constant)."""

    confidence: np.ndarray
    accuracy: np.ndarray
    n_tasks: np.ndarray
    tasks: Tasks | None
    live: np.ndarray
    margins: np.ndarray | None = None


def score_layer(acts: np.ndarray, similarity: Callable[[np.ndarray], np.ndarray],
                images: Callable[[np.ndarray], np.ndarray], cfg: MISConfig = MISConfig(),
                softmax: bool = False) -> LayerScores:
    """Score every unit of a layer's activations (N, C[, H, W]); ``softmax``: rank the units on
    softmax outputs over C (class units). Constant units: NaN and 0 tasks."""
    values = pooled(acts, cfg.pooling)
    if softmax:
        from scipy.special import softmax as _softmax

        values = _softmax(values, axis=1)
    constant = (values.max(0) - values.min(0)) < CONSTANT_RANGE
    units = values.shape[1]
    conf, acc = np.full(units, np.nan), np.full(units, np.nan)
    n_tasks = np.zeros(units, np.int64)
    live = np.flatnonzero(~constant)
    tasks, d = None, None
    if len(live):
        tasks = make_tasks(values[:, live], cfg, live)
        d = task_margins(tasks, similarity, images)
        conf[live] = confidence(d, cfg.alpha).mean(1)
        acc[live] = (d > 0).mean(1)
        n_tasks[live] = cfg.n_tasks
    return LayerScores(conf, acc, n_tasks, tasks, live, d)


def mis_layer(acts: np.ndarray, similarity: Callable[[np.ndarray], np.ndarray],
              images: Callable[[np.ndarray], np.ndarray], cfg: MISConfig = MISConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(MIS confidence per unit, n_tasks per unit); constant units: NaN and 0."""
    scores = score_layer(acts, similarity, images, cfg)
    return scores.confidence, scores.n_tasks


# ---- the stage ------------------------------------------------------------------------------


def score_file(activations: str, probe_dir: str, out: str, cfg: "MISConfig | dict | None" = None,
               layers: list[str] | None = None, backend: str = "concepts", weights: str | None = None,
               class_accuracy_out: str | None = None, tasks_out: str | None = None,
               device: str = "cpu") -> "pd.DataFrame":
    """The MIS stage (``stages.mis``, ``pruneinterp mis``): Mechanistic Interpretability Score of
    every unit of ``layers`` (default: all layers of the file) -> Contract 3 table
    ``layer,unit,mis,n_tasks,mis_accuracy,mis_confidence`` (constant units: scores empty, n_tasks 0). Layers in ``cfg.softmax_layers`` are ranked on softmax outputs.
    ``class_accuracy_out`` also writes the per-class top-1 accuracy on the probe from the file's
    logits and targets (for the class units of the last layer, von Rad & Seuffert Fig. 6);
    ``tasks_out`` the audit table of every task (``layer,unit,task,side,role,image,rank``, image =
    probe row). ``device`` runs a network backend (dreamsim, lpips) there."""
    import pandas as pd

    from .activations import check_probe, class_accuracy, open_activations
    from .data.broden import Probe
    from .io import InputError, atomic_paths, write_csv
    from .settings import as_config

    config = as_config(MISConfig, cfg)
    probe = Probe(probe_dir)
    similarity = load_backend(backend, weights, probe, device)
    frames, audits = [], []
    with open_activations(activations) as f:
        image_index = check_probe(f, activations, probe, probe_dir)
        available = list(f["layers"])
        progress = Progress(len(layers or available), "mis", unit="layer")
        for layer in layers or available:
            if layer not in available:
                raise InputError(f"{activations}: no layer {layer!r}; available: {', '.join(available)}")
            if len(image_index) < config.min_images():
                raise InputError(f"{activations}: {len(image_index)} probe images, MIS needs at least "
                                 f"{config.min_images()} (mis.n_tasks, mis.k, mis.query_offset)")
            items = ((lambda rows: image_index[rows]) if backend in ROW_BACKENDS
                     else (lambda rows: probe.images(image_index[rows])))
            scores = score_layer(f["layers"][layer][:], similarity, items, config,
                                 softmax=layer in config.softmax_layers)
            frames.append(pd.DataFrame({"layer": layer, "unit": np.arange(len(scores.n_tasks)),
                                        "mis": scores.confidence, "n_tasks": scores.n_tasks,
                                        "mis_accuracy": scores.accuracy, "mis_confidence": scores.confidence},
                                       columns=columns.MIS))
            progress.update(1)
            progress.line(f"mis {layer}: {int((scores.n_tasks > 0).sum())} of {len(scores.n_tasks)} units scored, "
                          f"mean MIS {np.nanmean(scores.confidence) if (scores.n_tasks > 0).any() else float('nan'):.3f}")
            if tasks_out and scores.tasks is not None:
                audit = scores.tasks.table(scores.live)
                audit["image"] = image_index[audit["image"].to_numpy()]
                audits.append(audit.assign(layer=layer)[columns.MIS_TASKS])
        classes = class_accuracy(f, activations, probe_dir) if class_accuracy_out else None
    progress.close()
    df = pd.concat(frames, ignore_index=True)
    with atomic_paths(tasks_out, class_accuracy_out if classes is not None else None, out) as tmps:
        tasks_tmp, classes_tmp, out_tmp = tmps  # all or nothing
        if tasks_tmp:
            write_csv(pd.concat(audits, ignore_index=True) if audits else pd.DataFrame(columns=columns.MIS_TASKS),
                      tasks_tmp)
        if classes_tmp:
            write_csv(classes, classes_tmp)
        write_csv(df, out_tmp)
    return df
