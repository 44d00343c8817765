"""The input pipeline of training and evaluation: ``torch.utils.data.DataLoader`` over batches.

One :class:`Loader` per run holds every split (generated images in memory, CIFAR arrays, or an
ImageFolder index read from disk) and serves each pass of the run -- a training epoch from a given
batch on, an evaluation of a held-out split -- from one pool of ``workers`` persistent worker
processes (``train.workers``; 0 reads in the calling process), with pinned memory when the run is
on CUDA. In-memory images are moved to shared memory once, so workers read the same uint8 tensor
(no copy per worker, no pickled image); each batch comes back from its worker through shared
memory too.

What a batch holds is decided in the calling process, by the keys the sampler yields
(:class:`Batch`): epoch e visits ``torch.randperm(n)`` drawn from a generator seeded with
``seed * 100_003 + e``, batch b is ``order[b * batch_size:(b + 1) * batch_size]`` (the last partial
batch is dropped), a run rewound to iteration k starts at k's batch, and a process of a
``torchrun`` job takes rows ``rank, rank + world, ...`` of every batch. Workers only read and
augment (:mod:`pruneinterp.data.augment`, seeded per image by (seed, epoch, batch, position)), and
the DataLoader returns batches in the sampler's order, so the numbers are the same for any number
of workers or ranks. With ``workers: 0``, no augmentation and in-memory images a batch is
``images[rows]``, exactly what training read before this module existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..io import InputError
from . import augment as aug
from .imagefolder import ImageFolderImages

Split = tuple[Any, torch.Tensor]  # (images (N, H, W, C) uint8 tensor or ImageFolderImages, targets (N,))


@dataclass(frozen=True)
class Batch:
    """A key of the sampler: rows ``rows`` of ``split`` as batch ``index`` of ``epoch`` (-1: an
    evaluation, never augmented); ``positions`` are the rows' places in the whole batch, which seed
    their augmentation."""

    split: str
    epoch: int
    index: int
    rows: np.ndarray | slice
    positions: np.ndarray | None = None


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order in which epoch ``epoch`` visits ``n`` training images."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def training_batches(n: int, batch_size: int, seed: int, epoch: int, first: int = 0, world: int = 1,
                     rank: int = 0) -> list[Batch]:
    """The keys of epoch ``epoch`` from batch ``first`` on; this process's share of each batch."""
    order = epoch_order(n, seed, epoch).numpy()
    positions = np.arange(batch_size)[rank::world]
    return [Batch("train", epoch, b, order[b * batch_size:(b + 1) * batch_size][rank::world], positions)
            for b in range(first, n // batch_size)]


def evaluation_batches(split: str, n: int, batch_size: int) -> list[Batch]:
    """Consecutive slices of ``batch_size`` images (the last one may be shorter)."""
    return [Batch(split, -1, i, slice(start, start + batch_size)) for i, start in enumerate(range(0, n, batch_size))]


@dataclass(frozen=True)
class _Failed:
    """What a worker returns instead of a batch it could not read (the error names the file)."""

    message: str


class Batches(Dataset):
    """Map-style dataset whose items are whole batches: ``dataset[Batch]`` -> (images uint8
    (n, H, W, C), targets (n,))."""

    def __init__(self, data: dict[str, Split], seed: int, augment: str = "none", shift: int = 0,
                 flip: bool = False) -> None:
        problem = aug.conflict(augment, shift, flip)
        if problem:
            raise ValueError(problem)
        self.data, self.seed, self.augment, self.shift, self.flip = data, seed, augment, shift, flip
        self._transforms: dict[tuple[str, int], Any] = {}

    def __getitem__(self, key: Batch) -> tuple[torch.Tensor, torch.Tensor] | _Failed:
        images, targets = self.data[key.split]
        rows = key.rows if isinstance(key.rows, slice) else torch.from_numpy(key.rows)
        try:
            x = self._images(images, key, rows)
        except InputError as exc:
            return _Failed(str(exc))
        return x, targets[rows]

    def _transform(self, phase: str, size: int) -> Any:
        if (phase, size) not in self._transforms:
            self._transforms[phase, size] = (aug.train_transform(self.augment, self.shift, self.flip, size)
                                             if phase == "train" else aug.eval_transform(self.augment, size))
        return self._transforms[phase, size]

    def _images(self, images: Any, key: Batch, rows: torch.Tensor | slice) -> torch.Tensor:
        size = images.shape[1]
        folder = isinstance(images, ImageFolderImages)
        index = range(*rows.indices(len(images))) if isinstance(rows, slice) else rows.tolist()
        if key.epoch >= 0:
            transform = self._transform("train", size)
            if transform is None:
                return images[rows]
            whole = folder and self.augment == "imagenet"  # RandomResizedCrop from the whole decoded image
            out = []
            with aug.seeded_draws() as reseed:
                for row, position in zip(index, key.positions.tolist()):
                    reseed(self.seed, key.epoch, key.index, position)
                    img = images.image(row, whole=whole) if folder else images[row].permute(2, 0, 1)
                    out.append(transform(img).permute(1, 2, 0))
            return torch.stack(out)
        resize = aug.eval_resize(self.augment, size)
        if resize is None:
            return images[rows]
        if folder:  # straight from the decoded image: shorter side `resize`, centre crop
            return torch.stack([images.image(row, resize=resize).permute(1, 2, 0) for row in index])
        transform = self._transform("eval", size)
        return torch.stack([transform(images[row].permute(2, 0, 1)).permute(1, 2, 0) for row in index])


def _as_is(item: Any) -> Any:
    return item


class _Keys(torch.utils.data.Sampler):
    """The sampler: the keys of the pass about to start (set by :meth:`Loader.read`)."""

    def __init__(self) -> None:
        self.keys: list[Batch] = []

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


class Loader:
    """One DataLoader over the splits of a run; :meth:`read` one pass of batches (a context manager:
    leaving it stops the workers)."""

    def __init__(self, data: dict[str, Split], seed: int, augment: str = "none", shift: int = 0,
                 flip: bool = False, workers: int = 0, device: torch.device | str = "cpu") -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
            raise ValueError(f"train.workers = {workers!r}; allowed: an integer >= 0 (0 = read in this process)")
        if workers:
            for images, targets in data.values():
                for t in (images, targets):
                    if isinstance(t, torch.Tensor):
                        t.share_memory_()  # once: every worker reads this tensor, nothing is pickled
        self._keys = _Keys()
        self.loader = DataLoader(
            Batches(data, seed, augment, shift, flip), batch_size=None, sampler=self._keys, num_workers=workers,
            collate_fn=_as_is, pin_memory=torch.device(device).type == "cuda", persistent_workers=workers > 0,
            # the workers' base seed: from a generator of its own, so the global random state stays as it was
            generator=torch.Generator().manual_seed(seed))

    def read(self, keys: Iterable[Batch]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``keys``, in their order."""
        self._keys.keys = list(keys)
        for item in self.loader:
            if isinstance(item, _Failed):
                raise InputError(item.message)
            yield item

    def close(self) -> None:
        it = getattr(self.loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self.loader._iterator = None

    def __enter__(self) -> "Loader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
