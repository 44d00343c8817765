"""CIFAR-10 / CIFAR-100 read from torchvision's own on-disk format (nothing is downloaded).

The directory given as ``data.cifar_dir`` is what ``torchvision.datasets.CIFAR10(root, download=True)``
leaves behind: ``cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5``, ``test_batch``
and ``batches.meta`` (CIFAR-100: ``cifar-100-python/`` with ``train``, ``test`` and ``meta``),
each a Python pickle of a dict with ``data`` ((N, 3072) uint8, channel-major 32x32) and the labels
(``labels``; CIFAR-100 ``fine_labels``). The files are read directly rather than through
torchvision's dataset class, which would also insist on the published MD5 sums (so no test could
use a small fixture in the same format); the bytes are decoded exactly as torchvision decodes them.

The data stage writes the splits as the project's ``train.npz`` / ``val.npz`` ((N, 32, 32, 3) uint8
images, int64 targets, class names): the same arrays the generated data set uses, so training,
rewinding and evaluation run unchanged (the test split is the validation split, as in the papers).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from ..io import InputError

LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta",
                b"labels", b"label_names"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", b"fine_labels", b"fine_label_names"),
}


def expected_files(variant: str) -> list[str]:
    folder, train, test, meta, _, _ = LAYOUT[variant]
    return [f"{folder}/{name}" for name in train + test + [meta]]


def _load(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="bytes")
    except Exception as exc:  # truncated or foreign files raise many kinds
        raise InputError(f"{path}: not a readable CIFAR batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: not a CIFAR batch (a pickled dict)")
    return obj


def read_split(root: str | os.PathLike[str], variant: str, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images (N, 32, 32, 3) uint8, targets (N,) int64, class names) of ``split`` (train | test)."""
    if variant not in LAYOUT:
        raise ValueError(f"unknown CIFAR variant {variant!r}; allowed: {', '.join(LAYOUT)}")
    root = Path(root)
    missing = [f for f in expected_files(variant) if not (root / f).is_file()]
    if missing:
        raise InputError(f"{root}: not a CIFAR directory in torchvision's format ({variant}); missing "
                         f"{', '.join(missing)} (torchvision.datasets.{variant.upper()}(root, download=True) "
                         "writes them; nothing is downloaded here)")
    folder, train, test, meta, label_key, names_key = LAYOUT[variant]
    images, targets = [], []
    for name in train if split == "train" else test:
        batch = _load(root / folder / name)
        if b"data" not in batch or label_key not in batch:
            raise InputError(f"{root / folder / name}: no {b'data'!r} or {label_key!r} in the batch")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(batch[label_key]):
            raise InputError(f"{root / folder / name}: expected (N, 3072) pixels and N labels, got {data.shape}")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # as torchvision: CHW rows -> HWC
        targets.append(np.asarray(batch[label_key], dtype=np.int64))
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in _load(root / folder / meta).get(names_key, [])]
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(targets), names


def write_splits(root: str | os.PathLike[str], variant: str, train_out: str | os.PathLike[str],
                 val_out: str | os.PathLike[str]) -> None:
    """The data stage for CIFAR: ``train.npz`` from the training batches, ``val.npz`` from the test batch."""
    from ..io import atomic_paths

    arrays = {split: read_split(root, variant, split) for split in ("train", "test")}
    with atomic_paths(train_out, val_out) as (train_tmp, val_tmp):
        for tmp, split in ((train_tmp, "train"), (val_tmp, "test")):
            images, targets, names = arrays[split]
            with open(tmp, "wb") as f:
                np.savez(f, images=images, targets=targets, classes=np.array(names))
