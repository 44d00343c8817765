"""Classification data on disk in the ImageFolder layout (one folder per class), e.g. ImageNet or
CIFAR exported to PNGs: ``<root>/<class>/<image>``.

The ``data`` stage indexes a split once into a CSV (``path,target,class``; Contract-style cached
file), so the workflow's later stages depend on that index rather than on scanning a directory.
Images are read lazily, resized (shorter side) and centre-cropped to ``size`` x ``size``; the split
object behaves like the in-memory ``(N, H, W, C)`` uint8 tensor that the generated data uses
(``len``, indexing by an index tensor or a slice), so training and evaluation code is shared. The
training input pipeline (:mod:`pruneinterp.data.loader`) reads single images with
:meth:`ImageFolderImages.image` in DataLoader workers: centre crops, evaluation crops of the
ImageNet recipe (shorter side 256, centre 224) or whole images for ``RandomResizedCrop``
(:mod:`pruneinterp.data.augment`).
"""

from __future__ import annotations

import io
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


# JPEGs are decoded by torchvision.io (libjpeg-turbo, straight into a tensor) and resized as tensors:
# 1.74x PIL's decode + resize of 256-400 px JPEGs to 224 on one core (bench/input_pipeline.py, README
# "Benchmarks"). Other formats, and JPEGs torchvision.io refuses, go through PIL.
DECODERS = ("torchvision", "pil")
JPEG_MAGIC = b"\xff\xd8\xff"


def read_image(path: str | os.PathLike[str], decoder: str = "torchvision") -> torch.Tensor:
    """The whole image at ``path`` as RGB uint8 (3, H, W); ``decoder`` torchvision (JPEGs; others
    fall back to PIL) or pil. An unreadable file raises :class:`InputError` naming it."""
    if decoder not in DECODERS:
        raise ValueError(f"decoder = {decoder!r}; allowed: {', '.join(DECODERS)}")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: unreadable image ({exc.strerror or exc})") from None
    if decoder == "torchvision" and data[:3] == JPEG_MAGIC:
        from torchvision.io import ImageReadMode, decode_jpeg

        try:
            return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        except RuntimeError:
            pass  # a JPEG variant libjpeg in torchvision refuses: PIL may read it
    try:
        with Image.open(io.BytesIO(data)) as img:
            rgb = np.array(img.convert("RGB"))
    except Exception as exc:
        raise InputError(f"{path}: unreadable image ({exc})") from None
    return torch.from_numpy(rgb).permute(2, 0, 1)


def centre(image: torch.Tensor, size: int, resize: int | None = None) -> torch.Tensor:
    """(3, H, W) -> (3, size, size): shorter side resized to ``resize`` (default ``size``), centre crop."""
    from torchvision.transforms.v2 import functional as F

    return F.center_crop(F.resize(image, [resize or size], antialias=True), [size, size])


def load_image(path: str | os.PathLike[str], size: int, resize: int | None = None,
               decoder: str = "torchvision") -> np.ndarray:
    """RGB uint8 (size, size, 3): shorter side resized to ``resize`` (default ``size``), centre crop."""
    return centre(read_image(path, decoder), size, resize).permute(1, 2, 0).numpy()


class ImageFolderImages:
    """Lazily loaded images of an index CSV, indexable like an (N, H, W, C) uint8 tensor (each image
    resized and centre-cropped to ``size``); :meth:`image` reads one (C, H, W) as the training
    input pipeline (:mod:`pruneinterp.data.loader`) needs it."""

    def __init__(self, paths: list[str], size: int, decoder: str = "torchvision") -> None:
        self.paths = paths
        self.size = size
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, 3)

    def image(self, i: int, resize: int | None = None, whole: bool = False) -> torch.Tensor:
        """Image ``i`` as uint8 (3, size, size), its shorter side resized to ``resize`` (default
        ``size``) before the centre crop; ``whole``: the decoded image as it is (for a random crop)."""
        img = read_image(self.paths[i], self.decoder)
        return img if whole else centre(img, self.size, resize)

    def __getitem__(self, idx: "int | slice | torch.Tensor | np.ndarray") -> torch.Tensor:
        if isinstance(idx, slice):
            rows = range(*idx.indices(len(self.paths)))
        elif isinstance(idx, (int, np.integer)):
            return self.image(int(idx)).permute(1, 2, 0).contiguous()
        else:
            rows = [int(i) for i in np.asarray(idx).ravel()]
        return torch.stack([self.image(i).permute(1, 2, 0) for i in rows])

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
