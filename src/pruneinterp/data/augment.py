"""Training augmentation with ``torchvision.transforms.v2``, as the papers train (``train.augment``).

Recipes, applied to uint8 (C, H, W) images before normalisation:

* ``none``: the images as stored (the default; the embedded run trains without augmentation).
* ``cifar``: pad 4 with zeros, random crop back to the image size, random horizontal flip
  (``RandomCrop(size, padding=4)`` + ``RandomHorizontalFlip()``: torchvision's and the papers'
  CIFAR recipe). ``train.shift: s`` / ``train.flip: true`` are the same two transforms with
  padding ``s`` (recipe ``none`` only): ``augment: cifar`` is ``shift: 4`` + ``flip: true``.
* ``imagenet``: training ``RandomResizedCrop(size)`` (scale 0.08-1, ratio 3/4-4/3) + flip, from the
  whole decoded image for images on disk (:mod:`pruneinterp.data.imagefolder`); evaluation resizes
  the shorter side to ``size * 256 / 224`` (256 for 224) and takes the centre ``size`` crop.

Randomness: every image's draws come from torch's default CPU generator reseeded with
``derive_seed(seed, "augment", epoch, batch, position)`` (position = the image's place in the
global batch), inside ``torch.random.fork_rng``: the augmentation of every batch is a function of
(seed, epoch, batch) alone, whichever process (DataLoader worker, DDP rank) draws it, and the
caller's random state is left as it was.

This module imports torch only inside functions: the workflow's planning code calls
:func:`conflict` in every job.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    import torch

RECIPES = ("none", "cifar", "imagenet")
CIFAR_PADDING = 4
IMAGENET_RESIZE = 256 / 224  # evaluation: resize the shorter side to 256, centre crop 224


def conflict(augment: str, shift: int, flip: bool) -> str | None:
    """Why these ``train`` settings contradict each other, or None (an error line naming the keys)."""
    if augment not in RECIPES:
        return f"train.augment = {augment!r}; allowed: {', '.join(RECIPES)}"
    if augment != "none" and (shift or flip):
        return (f"train.augment = {augment!r} brings its own crops and flips; train.shift and train.flip "
                f"apply only with train.augment none (allowed here: shift 0, flip false; cifar = shift "
                f"{CIFAR_PADDING} + flip)")
    return None


def eval_resize(augment: str, size: int) -> int | None:
    """The shorter side an evaluation image is resized to before its centre ``size`` crop (None: the
    stored ``size`` itself)."""
    return round(size * IMAGENET_RESIZE) if augment == "imagenet" else None


def train_transform(augment: str, shift: int, flip: bool,
                    size: int) -> Callable[["torch.Tensor"], "torch.Tensor"] | None:
    """The training transform of one uint8 (C, H, W) image whose output is ``size`` x ``size``
    (None: no augmentation). For ``imagenet`` the input may be any size (a whole decoded image)."""
    from torchvision.transforms import v2

    if augment == "imagenet":
        return v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()])
    if augment == "cifar":
        shift, flip = CIFAR_PADDING, True
    steps: list[Any] = []
    if shift:
        steps.append(v2.RandomCrop(size, padding=shift))  # zero fill, as torchvision's CIFAR recipe
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps) if steps else None


def eval_transform(augment: str, size: int) -> Callable[["torch.Tensor"], "torch.Tensor"] | None:
    """The evaluation transform of a stored ``size`` x ``size`` image (images on disk are read at
    :func:`eval_resize` directly instead)."""
    from torchvision.transforms import v2

    resize = eval_resize(augment, size)
    if resize is None:
        return None
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(size)])


@contextmanager
def seeded_draws() -> Iterator[Callable[[int, int, int, int], None]]:
    """A block within which ``reseed(seed, epoch, batch, position)`` sets the draws of one image;
    torch's CPU random state is restored on leaving it (CUDA's is never touched)."""
    import torch

    from ..pruning import derive_seed

    def reseed(seed: int, epoch: int, batch: int, position: int) -> None:
        torch.default_generator.manual_seed(derive_seed(seed, "augment", epoch, batch, position))

    with torch.random.fork_rng(devices=[]):
        yield reseed
