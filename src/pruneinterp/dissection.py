"""Network dissection (Bau et al. 2017), exact and memory-bounded.

For unit k of a layer:

* threshold ``T_k``: the ``1 - quantile`` (default 0.995) quantile of the unit's activations over all
  probe images and spatial positions -- exact (every value is used, linear interpolation between
  order statistics as ``numpy.quantile``), computed a group of units at a time;
* each activation map is upsampled bilinearly to its image's segmentation resolution and
  thresholded, ``M_k(x) = A_k(x) > T_k`` (computed sign-exactly as ``interp(A_k - T_k) > 0``, so that
  a unit that is constant at T_k -- a dead unit -- has an empty mask rather than one made of
  interpolation round-off);
* for every label c, over the whole probe set,
  ``IoU(k, c) = |M_k ∩ L_c| / (|M_k on images where c's category is annotated| + |L_c| - |M_k ∩ L_c|)``
  (the original NetDissect rule: the activation term of the union counts only images whose
  annotation could have contained c; NetDissect-Lite's variant, which counts only images where c
  itself occurs, inflates IoU and is not used). Image-level labels (e.g. scene) cover every pixel of
  their image. Each label belongs to its primary category (the first in ``label.csv``);
* the unit's label is its best-IoU label; it is interpretable when that IoU exceeds the threshold.

Cost and memory: images are processed in chunks whose upsampled maps hold at most ``budget``
values (so memory does not grow with the probe); labels are sparse (pixel entries), intersections are
one sparse-times-dense product per chunk. :func:`reference_dissect_layer` is the straightforward
per-image, per-unit loop (as NetDissect-Lite computes it) that tests and ``bench/dissect.py`` check
against.

Bootstrap over probe images (optional): images are assigned at random (seeded) to ``blocks`` blocks;
per-block counts are kept, and each replicate resamples blocks with replacement (with one image per
block this is the ordinary image bootstrap). Thresholds ``T_k`` stay at their full-probe values.
"""

from __future__ import annotations

import os
from typing import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from . import columns
from .data.broden import LabelEntries, Probe
from .progress import Progress

RESULT_COLUMNS = columns.DISSECTION
BOOTSTRAP_COLUMNS = columns.DISSECTION_BOOTSTRAP
DEFAULT_BUDGET = 1 << 22  # activation values (float32) held at once: 16 MiB per buffer
UPSAMPLE = ("bilinear", "fieldmap")


def fieldmap_weights(offset: int, size: int, step: int, n_act: int, n_out: int, input_len: int) -> np.ndarray:
    """(n_out, n_act) interpolation matrix of NetDissect's ``upsampleL`` along one axis: activation
    a sits at the centre of its receptive field, input pixel ``size // 2 + offset + a * step``;
    segmentation pixel j at input coordinate ``j * input_len / n_out``; linear between centres and
    constant beyond the first and last (as their ``RectBivariateSpline(kx=1, ky=1)`` evaluates).
    Rows sum to 1, so ``W (A - T) W'`` keeps the sign-exact thresholding."""
    centres = size // 2 + offset + step * np.arange(n_act, dtype=np.float64)
    coords = np.arange(n_out, dtype=np.float64) * (input_len / n_out)
    eye = np.eye(n_act)
    return np.stack([np.interp(coords, centres, eye[a]) for a in range(n_act)], axis=1)


def upsampler(h: int, w: int, size: tuple[int, int], fieldmap: "np.ndarray | None" = None,
              input_size: "tuple[int, int] | None" = None, device: "str | torch.device" = "cpu"
              ) -> Callable[[torch.Tensor], torch.Tensor]:
    """How dissection upsamples (m, C, h, w) maps to (m, C, *size): bilinear (pixel centres
    aligned), or, given the layer's ``fieldmap`` and the network's ``input_size``, NetDissect's
    ``upsampleL`` (linear between the units' receptive-field centres, :func:`fieldmap_weights`).
    Both are convex combinations, so thresholding ``up(A - T) > 0`` is sign-exact."""
    if fieldmap is None:
        return lambda a: F.interpolate(a, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=False)
    (oy, ox), (zy, zx), (ty, tx) = np.asarray(fieldmap).tolist()
    wy = torch.from_numpy(fieldmap_weights(oy, zy, ty, h, int(size[0]), int(input_size[0]))).float().to(device)
    wx = torch.from_numpy(fieldmap_weights(ox, zx, tx, w, int(size[1]), int(input_size[1]))).float().to(device)
    return lambda a: torch.einsum("yh,nchw,xw->nyxc", wy, a, wx).permute(0, 3, 1, 2)


@dataclass(frozen=True)
class Bootstrap:
    replicates: int = 200  # 0: off
    blocks: int = 1000  # capped at the number of images; = N is the plain image bootstrap
    seed: int = 0


@dataclass(frozen=True)
class DissectConfig:
    """Settings of the dissect stage: ``quantile`` q (a unit's mask is its top q of activations),
    the IoU above which a unit is interpretable, the memory ``budget`` (activation values held at
    once per buffer) and the bootstrap over probe images."""

    quantile: float = 0.005
    iou_threshold: float = 0.04
    budget: int = DEFAULT_BUDGET
    bootstrap: Bootstrap = field(default_factory=Bootstrap)
    upsample: str = "bilinear"  # bilinear | fieldmap (NetDissect's upsampleL, anchored at receptive fields)

    def __post_init__(self) -> None:
        if self.upsample not in UPSAMPLE:
            raise ValueError(f"dissect.upsample must be one of {', '.join(UPSAMPLE)}; got {self.upsample!r}")


@dataclass(frozen=True)
class GroundTruthConfig:
    """Planted units: exact detectors of ``labels`` plus ``noise_units`` noise units, at the probe's
    segmentation resolution pooled by ``downsample``."""

    labels: tuple[str, ...] = ("gold", "circle", "striped")  # gold: no class has it as context colour
    noise_units: int = 2
    downsample: int = 2
    seed: int = 0


@dataclass
class Dissection:
    iou: np.ndarray  # (units, labels)
    thresholds: np.ndarray  # (units,)
    labels: list[str]
    categories: list[str]  # primary category of each label
    label_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # bootstrap replicates: best IoU and best label column per (replicate, unit)
    boot_iou: np.ndarray | None = None
    boot_label: np.ndarray | None = None

    def table(self, layer: str, iou_threshold: float) -> pd.DataFrame:
        """Best label per unit; a unit that overlaps no label at all (e.g. a dead unit, whose mask
        is empty) gets label ``-`` and no category."""
        best = self.iou.argmax(axis=1)
        best_iou = self.iou[np.arange(len(best)), best]
        return pd.DataFrame({
            "layer": layer,
            "unit": np.arange(len(best)),
            "label": [self.labels[b] if v > 0 else "-" for b, v in zip(best, best_iou)],
            "category": [self.categories[b] if v > 0 else "" for b, v in zip(best, best_iou)],
            "iou": best_iou,
            "threshold": self.thresholds,
            "interpretable": best_iou > iou_threshold,
        }, columns=RESULT_COLUMNS)

    def bootstrap_table(self, layer: str, iou_threshold: float) -> pd.DataFrame:
        """Per replicate: interpretable units and unique concepts among them."""
        if self.boot_iou is None:
            return pd.DataFrame(columns=BOOTSTRAP_COLUMNS)
        interp = self.boot_iou > iou_threshold
        unique = [len(set(self.boot_label[r][interp[r]].tolist())) for r in range(len(interp))]
        return pd.DataFrame({"layer": layer, "replicate": np.arange(len(interp)),
                             "interpretable_units": interp.sum(1), "unique_concepts": unique},
                            columns=BOOTSTRAP_COLUMNS)


def _quantile_inplace(values: np.ndarray, q: float) -> float:
    """Exact ``q`` quantile of a 1-D array (numpy's default linear method) by partial sorting;
    ``values`` is reordered in place."""
    m = len(values)
    pos = q * (m - 1)
    lo = int(np.floor(pos))
    values.partition(lo)  # s[lo] in place, everything after it >= s[lo]: s[lo + 1] is their minimum
    v_lo = float(values[lo])
    v_hi = float(values[lo + 1:].min()) if lo + 1 < m else v_lo
    return v_lo + (pos - lo) * (v_hi - v_lo)


def unit_thresholds(acts: "np.ndarray | object", quantile: float, budget: int = DEFAULT_BUDGET) -> np.ndarray:
    """Exact per-unit threshold T_k with P(a_k > T_k) = quantile over images and positions. ``acts``
    (N, C, ...) may be an h5py dataset: it is read a group of units at a time, each group holding at
    most ``budget`` values (at least one unit)."""
    n, units = acts.shape[0], acts.shape[1]
    per_unit = n * int(np.prod(acts.shape[2:], dtype=np.int64))
    group = max(1, min(units, budget // max(1, per_unit)))
    out = np.empty(units, dtype=np.float64)
    for u0 in range(0, units, group):
        block = np.asarray(acts[:, u0:u0 + group], dtype=np.float32)
        for j in range(block.shape[1]):  # one unit's values at a time: no transposed copy of the block
            out[u0 + j] = _quantile_inplace(np.array(block[:, j], dtype=np.float32).ravel(), 1.0 - quantile)
    return out


def _read_rows(acts: "np.ndarray | object", r: np.ndarray) -> torch.Tensor:
    contiguous = r[-1] - r[0] + 1 == len(r)
    return torch.from_numpy(np.asarray(acts[r[0]:r[-1] + 1] if contiguous else acts[r], dtype=np.float32))


def dissect_layer(acts: "np.ndarray | object", probe: Probe, image_index: np.ndarray, quantile: float = 0.005,
                  device: str = "cpu", budget: int = DEFAULT_BUDGET, bootstrap: Bootstrap | None = None,
                  thresholds: np.ndarray | None = None, fieldmap: "np.ndarray | None" = None,
                  input_size: "tuple[int, int] | None" = None) -> Dissection:
    """Dissect one layer. ``acts`` is (N, C, H, W) (an h5py dataset works: it is read per chunk);
    row i belongs to probe image ``image_index[i]``. ``thresholds`` overrides the quantile pass.
    Maps are upsampled to the segmentation bilinearly (pixel centres aligned), or, given the layer's
    ``fieldmap`` ((offset, size, step) x (y, x), input pixels) and the network's ``input_size``,
    anchored at the units' receptive-field centres (NetDissect's ``upsampleL``)."""
    if len(acts.shape) != 4:
        raise ValueError(f"dissection needs conv activations (N, C, H, W), got shape {tuple(acts.shape)}")
    if fieldmap is not None and input_size is None:
        raise ValueError("upsampling by receptive fields needs the network's input size")
    n, units = acts.shape[0], acts.shape[1]
    if len(image_index) != n:
        raise ValueError(f"{n} activation rows but {len(image_index)} image indices")
    dev = torch.device(device)
    if thresholds is None:
        thresholds = unit_thresholds(acts, quantile, budget)
    t = torch.from_numpy(np.asarray(thresholds)).float().to(dev).view(1, -1, 1, 1)
    n_labels, n_cats = len(probe.labels), len(probe.categories)
    blocks = min(bootstrap.blocks, n) if bootstrap else 1
    block_of = (np.random.default_rng(bootstrap.seed).permutation(n) % blocks if bootstrap
                else np.zeros(n, np.int64))
    f64 = dict(dtype=torch.float64, device=dev)
    inter = torch.zeros(blocks * n_labels, units, **f64)  # row b * L + label
    label_px = torch.zeros(blocks * n_labels, **f64)
    act_in_cat = torch.zeros(blocks * n_cats, units, **f64)  # row b * K + category
    sizes = probe.index.loc[image_index, ["sh", "sw"]].to_numpy()
    shapes = sorted({tuple(s) for s in sizes})
    counts = {s: int(((sizes[:, 0] == s[0]) & (sizes[:, 1] == s[1])).sum()) for s in shapes}
    progress = Progress(sum(-(-counts[s] // max(1, budget // (units * int(s[0] * s[1])))) for s in shapes),
                        f"dissect {units} units x {n} images", unit="chunk")
    for (sh, sw) in shapes:
        rows = np.flatnonzero((sizes[:, 0] == sh) & (sizes[:, 1] == sw))
        p = int(sh * sw)
        chunk = max(1, budget // (units * p))
        upsample = upsampler(acts.shape[2], acts.shape[3], (int(sh), int(sw)), fieldmap, input_size, dev)
        for start in range(0, len(rows), chunk):
            r = rows[start:start + chunk]
            # A > T is tested as interp(A - T) > 0: the same for exact arithmetic (bilinear weights
            # sum to 1), but sign-exact in floating point, so a plateau at T (e.g. a dead unit whose
            # every activation equals T) never becomes "active" through interpolation round-off.
            # channels_last: the kernel is several times faster, and the (m, sh, sw, C) memory order
            # is already the (pixels, units) matrix that the sparse product needs
            a = (_read_rows(acts, r).to(dev) - t).contiguous(memory_format=torch.channels_last)
            up = upsample(a)
            del a
            mask = up.clamp_(min=0).sign_().permute(0, 2, 3, 1).reshape(len(r) * p, units)  # 0/1, (m * P, C)
            del up
            _accumulate(mask, p, probe.label_entries(image_index[r]), torch.from_numpy(block_of[r]).to(dev),
                        n_labels, n_cats, inter, label_px, act_in_cat)
            progress.update(1)
    progress.close()
    label_cat = torch.from_numpy(probe.label_category).to(dev)
    iou = _iou(inter.view(blocks, n_labels, units).sum(0), label_px.view(blocks, n_labels).sum(0),
               act_in_cat.view(blocks, n_cats, units).sum(0), label_cat)
    d = Dissection(iou=iou.T.cpu().numpy(), thresholds=np.asarray(thresholds, dtype=np.float64),
                   labels=[lab.name for lab in probe.labels], categories=[lab.category for lab in probe.labels],
                   label_numbers=probe.label_numbers.copy())
    if bootstrap:
        d.boot_iou, d.boot_label = _bootstrap(inter.view(blocks, n_labels, units), label_px.view(blocks, n_labels),
                                              act_in_cat.view(blocks, n_cats, units), label_cat, bootstrap, budget)
    return d


def _accumulate(mask: torch.Tensor, p: int, lab: LabelEntries, block: torch.Tensor, n_labels: int, n_cats: int,
                inter: torch.Tensor, label_px: torch.Tensor, act_in_cat: torch.Tensor) -> None:
    """Add one chunk's counts: ``mask`` (m * P, C) 0/1 float, row = image * P + pixel; labels of
    the same m images."""
    dev = mask.device
    units = mask.shape[1]
    m = mask.shape[0] // p
    act_count = mask.view(m, p, units).sum(1).double()  # (m, C) active pixels per image (exact in fp32)
    ann_img, ann_cat = (torch.from_numpy(x).to(dev) for x in np.nonzero(lab.annotated))
    act_in_cat.index_add_(0, block[ann_img] * n_cats + ann_cat, act_count[ann_img])
    if len(lab.pix_img):
        img = torch.from_numpy(lab.pix_img).to(dev)
        rows = block[img] * n_labels + torch.from_numpy(lab.pix_col).to(dev)
        cols = img * p + torch.from_numpy(lab.pix_pos).to(dev)
        onehot = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.ones(len(rows), device=dev),
                                         (inter.shape[0], m * p), check_invariants=False)
        # exact: per-chunk counts are integers far below 2**24
        inter += torch.sparse.mm(onehot, mask).double()
        label_px.index_add_(0, rows, torch.ones(len(rows), dtype=torch.float64, device=dev))
    if len(lab.img_img):
        img = torch.from_numpy(lab.img_img).to(dev)
        rows = block[img] * n_labels + torch.from_numpy(lab.img_col).to(dev)
        inter.index_add_(0, rows, act_count[img])
        label_px.index_add_(0, rows, torch.full((len(rows),), float(p), dtype=torch.float64, device=dev))


def _iou(inter: torch.Tensor, label_px: torch.Tensor, act_in_cat: torch.Tensor, label_cat: torch.Tensor
         ) -> torch.Tensor:
    """(..., L, C) IoU from intersections (..., L, C), label pixels (..., L), active pixels per
    category (..., K, C); labels with category -1 have no activation term."""
    act_term = act_in_cat[..., label_cat.clamp(min=0), :] * (label_cat >= 0).view(-1, 1)
    union = act_term + label_px.unsqueeze(-1) - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def _bootstrap(inter: torch.Tensor, label_px: torch.Tensor, act_in_cat: torch.Tensor, label_cat: torch.Tensor,
               cfg: Bootstrap, budget: int) -> tuple[np.ndarray, np.ndarray]:
    blocks, n_labels, units = inter.shape
    rng = np.random.default_rng(cfg.seed + 1)
    weights = torch.from_numpy(rng.multinomial(blocks, np.full(blocks, 1.0 / blocks), size=cfg.replicates)
                               ).to(inter)  # (R, B) times each block is drawn
    best_iou = np.empty((cfg.replicates, units))
    best_label = np.empty((cfg.replicates, units), dtype=np.int64)
    step = max(1, budget // (n_labels * units))
    for r0 in range(0, cfg.replicates, step):
        w = weights[r0:r0 + step]
        iou = _iou(torch.einsum("rb,blc->rlc", w, inter), w @ label_px, torch.einsum("rb,bkc->rkc", w, act_in_cat),
                   label_cat)
        values, labels = iou.max(dim=1)
        best_iou[r0:r0 + len(w)] = values.cpu().numpy()
        best_label[r0:r0 + len(w)] = labels.cpu().numpy()
    return best_iou, best_label


def reference_dissect_layer(acts: np.ndarray, probe: Probe, image_index: np.ndarray, quantile: float = 0.005,
                            thresholds: np.ndarray | None = None, fieldmap: "np.ndarray | None" = None,
                            input_size: "tuple[int, int] | None" = None) -> np.ndarray:
    """The straightforward computation (as NetDissect-Lite does it): for every image and unit, upsample
    one map, threshold it, count its intersection with every label of the image. Returns IoU
    (units, labels). With a ``fieldmap``, maps are upsampled as NetDissect's ``upsampleL`` does it
    (scipy's linear ``RectBivariateSpline`` through the receptive-field centres). Slow; for tests and
    ``bench/dissect.py``."""
    n, units = acts.shape[:2]
    if thresholds is None:
        thresholds = np.quantile(np.asarray(acts).transpose(1, 0, 2, 3).reshape(units, -1), 1.0 - quantile, axis=1)
    n_labels, n_cats = len(probe.labels), len(probe.categories)
    inter = np.zeros((units, n_labels))
    label_px = np.zeros(n_labels)
    act_in_cat = np.zeros((units, n_cats))
    for i in range(n):
        img = int(image_index[i])
        sh, sw = int(probe.index.at[img, "sh"]), int(probe.index.at[img, "sw"])
        masks, annotated = probe.label_masks([img])
        lab = masks[0]  # (P, L)
        label_px += lab.sum(0)
        present = np.flatnonzero(lab.any(0))
        for u in range(units):
            amap = torch.from_numpy(np.asarray(acts[i, u], dtype=np.float32) - np.float32(thresholds[u]))[None, None]
            if fieldmap is None:
                up = F.interpolate(amap, size=(sh, sw), mode="bilinear", align_corners=False)[0, 0].numpy().ravel()
            else:
                up = _upsample_l(amap[0, 0].numpy().astype(np.float64), np.asarray(fieldmap), (sh, sw), input_size)
            active = up > 0  # interp(A) > T, sign-exact (see dissect_layer)
            act_in_cat[u] += active.sum() * annotated[0]
            for c in present:
                inter[u, c] += np.count_nonzero(active & lab[:, c])
    cat = probe.label_category
    act_term = np.where(cat >= 0, act_in_cat[:, np.maximum(cat, 0)], 0.0)
    union = act_term + label_px[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _upsample_l(amap: np.ndarray, fieldmap: np.ndarray, shape: tuple[int, int], input_size: tuple[int, int]
                ) -> np.ndarray:
    from scipy.interpolate import RectBivariateSpline

    (oy, ox), (zy, zx), (ty, tx) = np.asarray(fieldmap).tolist()
    h, w = amap.shape
    ay, ax = zy // 2 + oy + ty * np.arange(h), zx // 2 + ox + tx * np.arange(w)
    iy = np.arange(shape[0]) * (input_size[0] / shape[0])
    ix = np.arange(shape[1]) * (input_size[1] / shape[1])
    if h == 1 or w == 1:  # a spline needs two knots; a single centre is constant everywhere
        return np.broadcast_to(np.interp(iy, ay, amap[:, 0])[:, None] if w == 1 else
                               np.interp(ix, ax, amap[0])[None, :], shape).ravel()
    return RectBivariateSpline(ay, ax, amap, kx=1, ky=1)(iy, ix, grid=True).ravel()


def write_iou_file(path: str | os.PathLike[str], results: dict[str, Dissection], attrs: dict[str, object]) -> None:
    """The full IoU matrices: ``/layers/<layer>/iou`` (units, labels) float32, ``threshold`` (units,),
    bootstrap replicates if any; ``/labels/name``, ``/labels/number``, ``/labels/category``."""
    import h5py

    from .io import atomic_path

    first = next(iter(results.values()))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in attrs.items():
            f.attrs[key] = value
        f.create_dataset("labels/name", data=np.array(first.labels, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("labels/category", data=np.array(first.categories, dtype=object),
                         dtype=h5py.string_dtype())
        f.create_dataset("labels/number", data=first.label_numbers.astype(np.int64))
        for layer, d in results.items():
            g = f.create_group(f"layers/{layer}")
            g.create_dataset("iou", data=d.iou.astype(np.float32), compression="gzip")
            g.create_dataset("threshold", data=d.thresholds)
            if d.boot_iou is not None:
                g.create_dataset("bootstrap_best_iou", data=d.boot_iou.astype(np.float32))
                g.create_dataset("bootstrap_best_label", data=d.boot_label.astype(np.int32))


def read_iou_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``{layer: iou (units, labels)}`` plus ``"labels"`` (names) from :func:`write_iou_file`."""
    import h5py

    from .io import InputError

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            out = {layer: f[f"layers/{layer}/iou"][:] for layer in f["layers"]}
            out["labels"] = np.array([s.decode() if isinstance(s, bytes) else s for s in f["labels/name"][:]])
    except (OSError, KeyError) as exc:
        raise InputError(f"{path}: not a readable dissection IoU file ({exc})") from None
    return out




def ground_truth(probe_dir: str, out: str, cfg: "GroundTruthConfig | dict | None" = None,
                 quantile: float = DissectConfig.quantile, iou_threshold: float = DissectConfig.iou_threshold,
                 activations_out: str | None = None) -> pd.DataFrame:
    """Validate dissection on planted units. Unit u < len(labels) is an exact detector of
    ``labels[u]``: its map is the label's segmentation mask, average-pooled by ``downsample`` (as a
    conv layer at lower resolution would see it), times a per-image strength in [0.5, 1.5], plus
    tiny noise to break ties; the last ``noise_units`` units are uniform noise. The planted layer
    is dissected like any other, and the table says for each unit which label it got, its IoU, the largest IoU a unit with this quantile
    can reach for the planted label (``quantile / coverage``, capped at 1), and whether it was
    recovered (planted detectors: best label = planted and interpretable; noise: not interpretable)."""
    from .io import atomic_path, write_csv
    from .settings import as_config

    cfg = as_config(GroundTruthConfig, cfg)
    labels, noise_units, downsample = list(cfg.labels), cfg.noise_units, cfg.downsample
    probe = Probe(probe_dir)
    names = [lab.name for lab in probe.labels]
    unknown = [name for name in labels if name not in names]
    if unknown:
        raise ValueError(f"ground truth labels {unknown} are not labels of {probe_dir}; allowed: {', '.join(names)}")
    sizes = probe.index[["sh", "sw"]].drop_duplicates().to_numpy()
    if len(sizes) != 1 or sizes[0][0] % downsample or sizes[0][1] % downsample:
        raise ValueError(f"{probe_dir}: planted units need one segmentation size divisible by {downsample}")
    sh, sw = (int(v) for v in sizes[0])
    n = len(probe)
    rng = np.random.default_rng(cfg.seed)
    units = len(labels) + noise_units
    acts = np.empty((n, units, sh // downsample, sw // downsample), np.float32)
    coverage = np.zeros(len(labels))
    for start in range(0, n, 256):
        idx = np.arange(start, min(n, start + 256))
        masks, _ = probe.label_masks(idx)
        for u, name in enumerate(labels):
            m = torch.from_numpy(masks[:, :, names.index(name)].reshape(len(idx), 1, sh, sw).astype(np.float32))
            acts[idx, u] = torch.nn.functional.avg_pool2d(m, downsample)[:, 0].numpy()
            coverage[u] += float(m.sum())
    # a detector fires with a strength that varies between images (as real units do), so its top
    # activations are the label's pixels in the images where it fires most; tiny noise breaks ties
    acts[:, :len(labels)] *= rng.uniform(0.5, 1.5, (n, len(labels), 1, 1)).astype(np.float32)
    acts[:, :len(labels)] += 1e-4 * rng.random((n, len(labels)) + acts.shape[2:], dtype=np.float32)
    acts[:, len(labels):] = rng.random((n, noise_units) + acts.shape[2:], dtype=np.float32)
    if activations_out:
        import h5py

        with atomic_path(activations_out) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["model"] = "planted"
            f.attrs["probe"] = str(probe_dir)
            f.create_dataset("image_index", data=np.arange(n, dtype=np.int64))
            f.create_dataset("layers/planted", data=acts, chunks=(min(256, n),) + acts.shape[1:])
    d = dissect_layer(acts, probe, np.arange(n), quantile=quantile)
    table = d.table("planted", iou_threshold)
    planted = list(labels) + ["noise"] * noise_units
    coverage_frac = coverage / (n * sh * sw)
    bound = [min(1.0, quantile / c) if c > 0 else 0.0 for c in coverage_frac] + [float("nan")] * noise_units
    df = pd.DataFrame({"unit": table["unit"], "planted": planted, "label": table["label"], "iou": table["iou"],
                       "iou_bound": bound, "interpretable": table["interpretable"]})
    df["recovered"] = [(row.label == row.planted and row.interpretable) if row.planted != "noise"
                       else not row.interpretable for row in df.itertuples()]
    write_csv(df[columns.GROUND_TRUTH], out)
    return df
