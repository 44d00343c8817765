"""Probe datasets in the Broden layout (Bau et al. 2017): writer for the generated probe, and one
reader for both the generated probe and a real Broden directory (broden1_224 / broden1_227).

Layout (DESIGN.md, Contract 1): ``index.csv``, ``category.csv``, ``label.csv``, ``c_<category>.csv``
and ``images/``. A category cell of ``index.csv`` is a ``;``-separated list of PNG paths (pixel-level
labels, global label number encoded as ``R + 256 * G``) or of integers (image-level labels); an empty
cell means the category is not annotated for that image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..io import InputError, atomic_path
from . import shapes

INDEX_COLUMNS = ["image", "split", "ih", "iw", "sh", "sw", "color", "object", "material", "part", "scene", "texture"]
BRODEN_CATEGORIES = ["color", "object", "material", "part", "scene", "texture"]


def encode_seg(labels: np.ndarray) -> np.ndarray:
    """Global label numbers (h, w) -> RGB uint8 with number = R + 256 * G."""
    out = np.zeros(labels.shape + (3,), dtype=np.uint8)
    out[..., 0] = labels % 256
    out[..., 1] = labels // 256
    return out


def decode_seg(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0].astype(np.int32) + 256 * rgb[..., 1].astype(np.int32)


def write_shapes_probe(out_dir: str | os.PathLike[str], n: int, seed: int, spec: shapes.ShapesSpec) -> None:
    """Generate ``n`` probe images and write them in the Broden layout. The directory appears only
    when complete (written under a temporary name, then renamed)."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    (tmp / "images" / "shapes").mkdir(parents=True)
    names = shapes.label_names()
    n_labels = len(names)
    pixel_count = np.zeros(n_labels + 1)
    image_count = np.zeros(n_labels + 1)
    rows, targets = [], []
    for i in range(n):
        s = shapes.render(spec, shapes.image_rng(seed, "probe", i))
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
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


@dataclass
class Label:
    number: int
    name: str
    category: str


class Probe:
    """Read-only view of a Broden-format probe directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        for required in ("index.csv", "label.csv", "category.csv"):
            if not (self.root / required).is_file():
                raise InputError(f"{self.root}: not a Broden-format probe directory (missing {required})")
        try:
            self.index = pd.read_csv(self.root / "index.csv", dtype=str, keep_default_na=False)
            labels = pd.read_csv(self.root / "label.csv", keep_default_na=False)
            categories = pd.read_csv(self.root / "category.csv", keep_default_na=False)
        except Exception as exc:
            raise InputError(f"{self.root}: unreadable probe tables ({exc})") from None
        missing = {"image", "ih", "iw", "sh", "sw"} - set(self.index.columns)
        if missing:
            raise InputError(f"{self.root / 'index.csv'}: missing columns {sorted(missing)}")
        self.categories = [c for c in categories["name"] if c in self.index.columns]
        self.labels: list[Label] = []
        for row in labels.itertuples():
            if int(row.number) == 0:
                continue
            # primary category: the first in "cat(n);cat(m)", as in Broden
            primary = str(row.category).split(";")[0].split("(")[0]
            self.labels.append(Label(int(row.number), str(row.name), primary))
        self.label_numbers = np.array([lab.number for lab in self.labels])
        self.max_label = int(self.label_numbers.max()) if len(self.labels) else 0
        self.column_of = np.full(self.max_label + 1, -1, dtype=np.int64)  # label number -> column
        self.column_of[self.label_numbers] = np.arange(len(self.labels))
        self.label_category = np.array(
            [self.categories.index(lab.category) if lab.category in self.categories else -1 for lab in self.labels]
        )
        for col in ("ih", "iw", "sh", "sw"):
            self.index[col] = self.index[col].astype(int)
        self.targets: np.ndarray | None = None
        if (self.root / "targets.csv").is_file():
            t = pd.read_csv(self.root / "targets.csv")
            self.targets = t["target"].to_numpy(dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> np.ndarray:
        path = self.root / "images" / self.index.at[i, "image"]
        try:
            return np.asarray(Image.open(path).convert("RGB"))
        except Exception as exc:
            raise InputError(f"{path}: unreadable probe image ({exc})") from None

    def images(self, indices: np.ndarray | list[int]) -> np.ndarray:
        return np.stack([self.image(int(i)) for i in indices])

    def label_masks(self, indices: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
        """For images of one segmentation size: (n, sh*sw, L) bool pixel masks per label (image-level
        labels cover the whole image) and (n, n_categories) bool "category annotated"."""
        sizes = {(self.index.at[int(i), "sh"], self.index.at[int(i), "sw"]) for i in indices}
        if len(sizes) != 1:
            raise ValueError("label_masks needs images of one segmentation size")
        sh, sw = sizes.pop()
        masks = np.zeros((len(indices), sh * sw, len(self.labels)), dtype=bool)
        annotated = np.zeros((len(indices), len(self.categories)), dtype=bool)
        for row, i in enumerate(indices):
            for c, cat in enumerate(self.categories):
                cell = self.index.at[int(i), cat]
                if not cell:
                    continue
                annotated[row, c] = True
                for item in cell.split(";"):
                    if item.isdigit():
                        col = self.column_of[int(item)] if int(item) <= self.max_label else -1
                        if col >= 0:
                            masks[row, :, col] = True
                        continue
                    path = self.root / "images" / item
                    try:
                        seg = decode_seg(np.asarray(Image.open(path).convert("RGB"))).ravel()
                    except Exception as exc:
                        raise InputError(f"{path}: unreadable segmentation ({exc})") from None
                    if seg.size != sh * sw:
                        raise InputError(f"{path}: segmentation is not {sh}x{sw} as index.csv says")
                    nz = (seg > 0) & (seg <= self.max_label)
                    cols = self.column_of[seg[nz]]
                    ok = cols >= 0
                    masks[row, np.flatnonzero(nz)[ok], cols[ok]] = True
        return masks, annotated
