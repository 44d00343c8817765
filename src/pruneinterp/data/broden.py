"""Probe datasets in the Broden layout (Bau et al. 2017): writer for the generated probe, and one
reader for both the generated probe and a real Broden directory (broden1_224 / broden1_227).

Layout (DESIGN.md, Contract 1): ``index.csv``, ``category.csv``, ``label.csv``, ``c_<category>.csv``
and ``images/``. A category cell of ``index.csv`` is a ``;``-separated list of PNG paths (pixel-level
labels, global label number encoded as ``R + 256 * G``) or of integers (image-level labels); an empty
cell means the category is not annotated for that image.

:func:`probe_stats` tabulates, for any probe in this layout, each label's share of all probe pixels
and the best IoU network dissection can give it (``probe_stats.csv``, written with the generated
probe).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .. import columns
from ..io import InputError
from . import shapes

INDEX_COLUMNS = ["image", "split", "ih", "iw", "sh", "sw", "color", "object", "material", "part", "scene", "texture"]
BRODEN_CATEGORIES = ["color", "object", "material", "part", "scene", "texture"]
STATS_QUANTILE = 0.005  # dissection's default: a unit's mask is the top 0.5% of its activations
FEASIBLE_BOUND = 0.1  # twice the interpretability threshold IoU 0.05


def encode_seg(labels: np.ndarray) -> np.ndarray:
    """Global label numbers (h, w) -> RGB uint8 with number = R + 256 * G."""
    out = np.zeros(labels.shape + (3,), dtype=np.uint8)
    out[..., 0] = labels % 256
    out[..., 1] = labels // 256
    return out


def decode_seg(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0].astype(np.int32) + 256 * rgb[..., 1].astype(np.int32)


def write_shapes_probe(out_dir: str | os.PathLike[str], n: int, seed: int, spec: shapes.ShapesSpec,
                       force: bool = False) -> None:
    """Generate ``n`` probe images and write them in the Broden layout, with ``probe_stats.csv``
    (:func:`probe_stats`). The directory appears only when complete (written under a temporary name,
    then renamed). An existing ``out_dir`` is replaced only if pruneinterp generated it (its marker
    file) or ``force``: never a real Broden copy given by mistake."""
    from ..io import check_replaceable

    out_dir = Path(out_dir)
    if n < 1:
        raise InputError(f"probe size must be at least 1 image; got {n}")
    check_replaceable(out_dir, force)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    try:
        _write_probe_into(tmp, n, seed, spec)
        if out_dir.exists():
            import shutil

            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():  # failed or interrupted (SIGTERM): no half-written probe stays behind
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def _write_probe_into(tmp: Path, n: int, seed: int, spec: shapes.ShapesSpec) -> None:
    from ..io import mark

    (tmp / "images" / "shapes").mkdir(parents=True)
    names = shapes.label_names()
    n_labels = len(names)
    pixel_count = np.zeros(n_labels + 1)
    image_count = np.zeros(n_labels + 1)
    rows, targets = [], []
    for i in range(n):
        s = shapes.sample(spec, seed, "probe", i)
        stem = f"shapes/{i:06d}"
        Image.fromarray(s.image).save(tmp / "images" / f"{stem}.png")
        row = {"image": f"{stem}.png", "split": "train", "ih": spec.size, "iw": spec.size,
               "sh": spec.size // 2, "sw": spec.size // 2, "material": "", "part": ""}
        for cat, seg in s.seg.items():
            Image.fromarray(encode_seg(seg)).save(tmp / "images" / f"{stem}_{cat}.png")
            row[cat] = f"{stem}_{cat}.png"
            counts = np.bincount(seg.ravel(), minlength=n_labels + 1)
            pixel_count += counts / seg.size
            image_count += counts > 0
        row["scene"] = str(s.scene)
        pixel_count[s.scene] += 1.0
        image_count[s.scene] += 1
        rows.append(row)
        targets.append({"image": row["image"], "target": s.target, "class": shapes.SHAPES[s.target]})
    pd.DataFrame(rows, columns=INDEX_COLUMNS).to_csv(tmp / "index.csv", index=False)
    pd.DataFrame(targets).to_csv(tmp / "targets.csv", index=False)
    # label.csv / c_<category>.csv: frequency = images containing the label; coverage = sum over
    # images of the fraction of the image's pixels carrying it (Broden's convention, image units).
    label_rows = [{"number": 0, "name": "-", "category": "", "frequency": 0, "coverage": 0.0, "syns": ""}]
    for number, (name, cat) in enumerate(names, start=1):
        label_rows.append({"number": number, "name": name, "category": f"{cat}({int(image_count[number])})",
                           "frequency": int(image_count[number]), "coverage": round(pixel_count[number], 4),
                           "syns": name})
    labels = pd.DataFrame(label_rows)
    labels.to_csv(tmp / "label.csv", index=False)
    cat_rows = []
    for cat in shapes.CATEGORIES:
        sub = [(num, name) for num, (name, c) in enumerate(names, start=1) if c == cat]
        cat_rows.append({"name": cat, "first": sub[0][0], "last": sub[-1][0], "count": len(sub), "frequency": n})
        pd.DataFrame([{"code": code, "number": num, "name": name, "frequency": int(image_count[num]),
                       "coverage": round(pixel_count[num], 4)} for code, (num, name) in enumerate(sub, start=1)]
                     ).to_csv(tmp / f"c_{cat}.csv", index=False)
    pd.DataFrame(cat_rows).to_csv(tmp / "category.csv", index=False)
    probe_stats(Probe(tmp)).to_csv(tmp / "probe_stats.csv", index=False)
    mark(tmp, "make-probe")


@dataclass
class Label:
    number: int
    name: str
    category: str


class Probe:
    """Read-only view of a Broden-format probe directory."""

    def __init__(self, root: str | os.PathLike[str], cache_labels: bool = False) -> None:
        """``cache_labels`` keeps every decoded segmentation in memory (repeated passes, benchmarks)."""
        self.root = Path(root)
        self._label_cache: dict[int, tuple[np.ndarray, ...]] | None = {} if cache_labels else None
        for required in ("index.csv", "label.csv", "category.csv"):
            if not (self.root / required).is_file():
                raise InputError(f"{self.root}: not a Broden-format probe directory (missing {required})")
        try:
            self.index = pd.read_csv(self.root / "index.csv", dtype=str, keep_default_na=False)
            labels = pd.read_csv(self.root / "label.csv", keep_default_na=False)
            categories = pd.read_csv(self.root / "category.csv", keep_default_na=False)
        except Exception as exc:
            raise InputError(f"{self.root}: unreadable probe tables ({exc})") from None
        for name, table, required in (("index.csv", self.index, ("image", "ih", "iw", "sh", "sw")),
                                      ("label.csv", labels, ("number", "name", "category")),
                                      ("category.csv", categories, ("name",))):
            missing = [c for c in required if c not in table.columns]
            if missing:
                raise InputError(f"{self.root / name}: missing column{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(missing)} (Broden layout: {','.join(required)})")
        self.categories = [c for c in categories["name"] if c in self.index.columns]
        coverage = self._category_coverage()
        self.labels: list[Label] = []
        try:
            numbers = labels["number"].astype(int)
        except ValueError:
            raise InputError(f"{self.root / 'label.csv'}: column number must hold integers") from None
        for number, row in zip(numbers, labels.itertuples()):
            if number == 0:
                continue
            if number < 0:
                raise InputError(f"{self.root / 'label.csv'}: label number {number} is negative")
            self.labels.append(Label(int(number), str(row.name), self._primary(int(number), str(row.category), coverage)))
        self.label_numbers = np.array([lab.number for lab in self.labels])
        self.max_label = int(self.label_numbers.max()) if len(self.labels) else 0
        self.column_of = np.full(self.max_label + 1, -1, dtype=np.int64)  # label number -> column
        self.column_of[self.label_numbers] = np.arange(len(self.labels))
        self.label_category = np.array(
            [self.categories.index(lab.category) if lab.category in self.categories else -1 for lab in self.labels]
        )
        for col in ("ih", "iw", "sh", "sw"):
            try:
                self.index[col] = self.index[col].astype(int)
            except ValueError:
                raise InputError(f"{self.root / 'index.csv'}: column {col} must hold integers") from None
        self._sh, self._sw = self.index["sh"].to_numpy(np.int64), self.index["sw"].to_numpy(np.int64)
        self.targets: np.ndarray | None = None
        if (self.root / "targets.csv").is_file():
            t = pd.read_csv(self.root / "targets.csv")
            if "target" not in t.columns:
                raise InputError(f"{self.root / 'targets.csv'}: missing column target (one class index per probe image)")
            self.targets = t["target"].to_numpy(dtype=np.int64)

    def _category_coverage(self) -> dict[int, list[float]]:
        """Label number -> its coverage in each category (``c_<category>.csv``; 0 where absent)."""
        out: dict[int, list[float]] = {}
        for i, cat in enumerate(self.categories):
            path = self.root / f"c_{cat}.csv"
            if not path.is_file():
                continue
            try:
                table = pd.read_csv(path, keep_default_na=False)
                pairs = zip(table["number"].astype(int), table["coverage"].astype(float))
            except Exception as exc:
                raise InputError(f"{path}: unreadable category table, needs number and coverage ({exc})") from None
            for number, cov in pairs:
                out.setdefault(number, [0.0] * len(self.categories))[i] = cov
        return out

    def _primary(self, number: int, listed: str, coverage: dict[int, list[float]]) -> str:
        """A label's primary category, as NetDissect chooses it: the category where the label has
        the largest coverage (``c_<category>.csv``; on a tie the later category, as NetDissect's
        ``max`` over (coverage, index)); the first category listed in ``label.csv`` where no
        category table lists the label."""
        covs = coverage.get(number)
        if covs is None or max(covs) <= 0:
            return listed.split(";")[0].split("(")[0]
        return self.categories[max((c, i) for i, c in enumerate(covs))[1]]

    def __len__(self) -> int:
        return len(self.index)

    def _file(self, relative: str) -> Path:
        """A file named in index.csv, which must stay inside the probe's ``images/``: no absolute
        path, no ``..`` (a crafted index could otherwise make the tools read any file)."""
        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts or not relative:
            raise InputError(f"{self.root / 'index.csv'}: path {relative!r} leaves the probe directory "
                             f"(allowed: relative paths under images/, no '..')")
        return self.root / "images" / rel

    def image(self, i: int) -> np.ndarray:
        path = self._file(self.index.at[i, "image"])
        try:
            return np.asarray(Image.open(path).convert("RGB"))
        except Exception as exc:
            raise InputError(f"{path}: unreadable probe image ({exc})") from None

    def images(self, indices: np.ndarray | list[int]) -> np.ndarray:
        return np.stack([self.image(int(i)) for i in indices])

    def _image_labels(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Labels of image ``i``: pixel entries (flat position, label column) without duplicates,
        image-level label columns, and the (n_categories,) "category annotated" flags."""
        if self._label_cache is not None and i in self._label_cache:
            return self._label_cache[i]
        sh, sw = int(self.index.at[i, "sh"]), int(self.index.at[i, "sw"])
        pos_parts, col_parts, image_cols = [], [], []
        annotated = np.zeros(len(self.categories), dtype=bool)
        for c, cat in enumerate(self.categories):
            cell = self.index.at[i, cat]
            if not cell:
                continue
            annotated[c] = True
            for item in cell.split(";"):
                if item.isdigit():
                    col = self.column_of[int(item)] if int(item) <= self.max_label else -1
                    if col >= 0:
                        image_cols.append(col)
                    continue
                path = self._file(item)
                try:
                    seg = decode_seg(np.asarray(Image.open(path).convert("RGB"))).ravel()
                except Exception as exc:
                    raise InputError(f"{path}: unreadable segmentation ({exc})") from None
                if seg.size != sh * sw:
                    raise InputError(f"{path}: segmentation is not {sh}x{sw} as index.csv says")
                nz = np.flatnonzero((seg > 0) & (seg <= self.max_label))
                cols = self.column_of[seg[nz]]
                ok = cols >= 0
                pos_parts.append(nz[ok])
                col_parts.append(cols[ok])
        pos = np.concatenate(pos_parts) if pos_parts else np.zeros(0, np.int64)
        col = np.concatenate(col_parts) if col_parts else np.zeros(0, np.int64)
        if len(pos_parts) > 1:  # several PNGs (e.g. Broden's part layers): count a (pixel, label) once
            key = np.unique(col.astype(np.int64) * (sh * sw) + pos)
            col, pos = key // (sh * sw), key % (sh * sw)
        out = (pos.astype(np.int64), col.astype(np.int64), np.unique(np.asarray(image_cols, np.int64)), annotated)
        if self._label_cache is not None:
            self._label_cache[i] = out
        return out

    def _one_size(self, indices: np.ndarray | list[int]) -> tuple[int, int]:
        idx = np.asarray(indices, dtype=np.int64)
        sh, sw = self._sh[idx], self._sw[idx]
        if len(idx) == 0 or (sh != sh[0]).any() or (sw != sw[0]).any():
            raise ValueError("labels are read for images of one segmentation size at a time")
        return int(sh[0]), int(sw[0])

    def label_entries(self, indices: np.ndarray | list[int]) -> "LabelEntries":
        """Sparse labels of images of one segmentation size (row r = ``indices[r]``)."""
        sh, sw = self._one_size(indices)
        per_image = [self._image_labels(int(i)) for i in indices]
        rows = np.arange(len(per_image))
        empty = np.zeros(0, np.int64)
        pix_pos = np.concatenate([e[0] for e in per_image]) if per_image else empty
        pix_col = np.concatenate([e[1] for e in per_image]) if per_image else empty
        img_col = np.concatenate([e[2] for e in per_image]) if per_image else empty
        pix_img = np.repeat(rows, [len(e[0]) for e in per_image])
        img_img = np.repeat(rows, [len(e[2]) for e in per_image])
        annotated = (np.stack([e[3] for e in per_image]) if per_image
                     else np.zeros((0, len(self.categories)), dtype=bool))
        return LabelEntries(sh * sw, pix_img, pix_pos, pix_col, img_img, img_col, annotated)

    def label_masks(self, indices: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
        """For images of one segmentation size: (n, sh*sw, L) bool pixel masks per label (image-level
        labels cover the whole image) and (n, n_categories) bool "category annotated". Dense: for
        small probes and tests; dissection uses :meth:`label_entries`."""
        e = self.label_entries(indices)
        masks = np.zeros((len(indices), e.pixels, len(self.labels)), dtype=bool)
        masks[e.pix_img, e.pix_pos, e.pix_col] = True
        masks[e.img_img, :, e.img_col] = True
        return masks, e.annotated


@dataclass
class LabelEntries:
    """Sparse labels of a batch of images with ``pixels`` segmentation pixels each: pixel-level entries
    (image row, flat pixel, label column), image-level entries (image row, label column), and the
    (n, n_categories) "category annotated" flags."""

    pixels: int
    pix_img: np.ndarray
    pix_pos: np.ndarray
    pix_col: np.ndarray
    img_img: np.ndarray
    img_col: np.ndarray
    annotated: np.ndarray


def iou_bound(coverage: np.ndarray | float, quantile: float = STATS_QUANTILE) -> np.ndarray:
    """The largest IoU a unit can reach with a label covering a share ``coverage`` of all probe
    pixels, when its mask covers a share ``quantile``: ``min(q, c) / max(q, c)`` (the mask and the
    label overlap at most in the smaller of the two). 0 for a label that never occurs."""
    c = np.asarray(coverage, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0, np.minimum(quantile, c) / np.maximum(quantile, c), 0.0)


def probe_stats(probe: "Probe | str | os.PathLike[str]", quantile: float = STATS_QUANTILE,
                min_bound: float = FEASIBLE_BOUND) -> pd.DataFrame:
    """Per label of a Broden-format probe: ``label`` (name), ``category`` (its primary category, as
    dissection assigns it), ``coverage`` (its share of all probe pixels), ``bound``
    (:func:`iou_bound` for ``quantile``) and ``feasible`` (``bound >= min_bound``, written as
    ``True``/``False``), in ``label.csv`` order.

    ``coverage`` counts segmentation pixels: a pixel-level label counts the pixels that carry it
    (once per pixel, even where several PNGs of its category list it), an image-level label (e.g.
    scene) every pixel of its images, as dissection does; the total is all segmentation pixels of all
    probe images (``sh * sw`` each). Reads every segmentation once."""
    if not isinstance(probe, Probe):
        probe = Probe(probe)
    n_labels = len(probe.labels)
    count = np.zeros(n_labels, dtype=np.float64)
    total = 0.0
    for i in range(len(probe)):
        _, col, image_cols, _ = probe._image_labels(i)
        pixels = float(probe._sh[i] * probe._sw[i])
        total += pixels
        count += np.bincount(col, minlength=n_labels)
        count[image_cols] += pixels
    coverage = count / total if total > 0 else count
    bound = iou_bound(coverage, quantile)
    return pd.DataFrame({"label": [lab.name for lab in probe.labels],
                         "category": [lab.category for lab in probe.labels],
                         "coverage": coverage, "bound": bound, "feasible": bound >= min_bound},
                        columns=columns.PROBE_STATS)
