"""Classification data on disk in the ImageFolder layout (one folder per class), e.g. ImageNet or
CIFAR exported to PNGs: ``<root>/<class>/<image>``.

The ``data`` stage indexes a split once into a CSV (``path,target,class``; Contract-style cached
file), so the workflow's later stages depend on that index rather than on scanning a directory.
Images are read lazily, resized (shorter side) and centre-cropped to ``size`` x ``size``; the split
object behaves like the in-memory ``(N, H, W, C)`` uint8 tensor that the generated data uses
(``len``, indexing by an index tensor or a slice), so training and evaluation code is shared.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ..io import InputError, write_csv

INDEX_COLUMNS = ["path", "target", "class", "size"]


def index_imagefolder(root: str | os.PathLike[str], out: str | os.PathLike[str], size: int = 224) -> pd.DataFrame:
    """Index an ImageFolder tree (torchvision's class discovery and extensions) into a CSV; ``size``
    (the side images are cropped to) is recorded with every row, so the index says how it is read."""
    from torchvision.datasets import ImageFolder

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: image folder not found")
    try:
        ds = ImageFolder(str(root))
    except (FileNotFoundError, RuntimeError) as exc:
        raise InputError(f"{root}: not an ImageFolder tree (one sub-folder of images per class): {exc}") from None
    df = pd.DataFrame({"path": [str(Path(p).resolve()) for p, _ in ds.samples], "target": ds.targets,
                       "class": [ds.classes[t] for t in ds.targets], "size": int(size)}, columns=INDEX_COLUMNS)
    write_csv(df, out)
    return df


def load_image(path: str | os.PathLike[str], size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3): shorter side resized to ``size``, centre crop (torchvision)."""
    from torchvision.transforms import functional as TF

    try:
        img = Image.open(path).convert("RGB")
    except Exception as exc:
        raise InputError(f"{path}: unreadable image ({exc})") from None
    return np.asarray(TF.center_crop(TF.resize(img, size), [size, size]))


class ImageFolderImages:
    """Lazily loaded images of an index CSV, indexable like an (N, H, W, C) uint8 tensor."""

    def __init__(self, paths: list[str], size: int) -> None:
        self.paths = paths
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, 3)

    def __getitem__(self, idx: "int | slice | torch.Tensor | np.ndarray") -> torch.Tensor:
        if isinstance(idx, slice):
            rows = range(*idx.indices(len(self.paths)))
        elif isinstance(idx, (int, np.integer)):
            return torch.from_numpy(load_image(self.paths[int(idx)], self.size))
        else:
            rows = [int(i) for i in np.asarray(idx).ravel()]
        return torch.from_numpy(np.stack([load_image(self.paths[i], self.size) for i in rows]))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` images chosen at random (seeded), e.g. to fit the input normalisation."""
        rows = np.random.default_rng(seed).choice(len(self.paths), size=min(n, len(self.paths)), replace=False)
        return self[np.sort(rows)].numpy()


def load_index(path: str | os.PathLike[str]) -> tuple[ImageFolderImages, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: dataset index not found")
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"{path}: unreadable dataset index ({exc})") from None
    if list(df.columns) != INDEX_COLUMNS or df.empty:
        raise InputError(f"{path}: not a dataset index (needs columns {', '.join(INDEX_COLUMNS)} and rows)")
    images = ImageFolderImages(df["path"].astype(str).tolist(), int(df["size"].iloc[0]))
    return images, torch.from_numpy(df["target"].to_numpy(np.int64))
