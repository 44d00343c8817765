"""The input pipeline (pruneinterp.data.loader, .augment): DataLoader batches in the order of the
old loop, the same for any number of workers or ranks, augmentation recipes with pinned draws,
images on disk decoded and cropped as each recipe says, errors naming the file."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

from conftest import write_jpegs
from pruneinterp.data import augment as aug
from pruneinterp.data.imagefolder import ImageFolderImages, read_image
from pruneinterp.data.loader import Batch, Loader, epoch_order, evaluation_batches, training_batches
from pruneinterp.io import InputError


def _data(n=40, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g),
            torch.randint(0, 5, (n,), generator=g))


def _read(loader, keys):
    return [(x.clone(), y.clone()) for x, y in loader.read(keys)]


def test_training_batches_are_the_old_loops_batches_from_the_rewind_point_on():
    n, bs, seed = 100, 16, 3
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + 2))
    assert torch.equal(epoch_order(n, seed, 2), order)
    keys = training_batches(n, bs, seed, 2)
    assert [k.index for k in keys] == list(range(6))  # 100 // 16: the partial batch is dropped
    for k in keys:
        assert k.epoch == 2 and np.array_equal(k.rows, order[k.index * bs:(k.index + 1) * bs].numpy())
        assert k.positions.tolist() == list(range(bs))
    assert [k.index for k in training_batches(n, bs, seed, 2, first=4)] == [4, 5]
    # a rank's share: rows rank, rank + world, ... of each batch, at those positions
    share = training_batches(n, bs, seed, 2, world=2, rank=1)
    assert np.array_equal(share[3].rows, keys[3].rows[1::2]) and share[3].positions.tolist() == list(range(1, bs, 2))
    assert [(k.rows.start, k.rows.stop) for k in evaluation_batches("val", 25, 10)] == [(0, 10), (10, 20), (20, 30)]


@pytest.mark.parametrize("augment,shift,flip", [("none", 0, False), ("cifar", 0, False), ("imagenet", 0, False),
                                                ("none", 2, True)])
def test_batches_do_not_depend_on_workers_or_ranks(augment, shift, flip):
    x, y = _data()
    keys = training_batches(40, 8, 5, 1, first=1) + evaluation_batches("val", 40, 16)
    data = {"train": (x, y), "val": (x, y)}
    with Loader(data, 5, augment, shift, flip, workers=0) as serial:
        expected = _read(serial, keys)
    with Loader(data, 5, augment, shift, flip, workers=2) as parallel:
        assert x.is_shared()  # workers read the one uint8 tensor in shared memory
        got = _read(parallel, keys)
        again = _read(parallel, keys)  # a second pass of the same persistent workers
    assert len(got) == len(expected) == 4 + 3
    for (a, ya), (b, yb), (c, _) in zip(expected, got, again):
        assert a.shape == b.shape and a.dtype == torch.uint8 and torch.equal(a, b) and torch.equal(a, c)
        assert torch.equal(ya, yb)
    train_rows = [torch.equal(a, x[torch.from_numpy(k.rows)]) for (a, _), k in zip(expected, keys[:4])]
    assert all(train_rows) == (augment == "none" and not shift and not flip)
    # one rank of two gets the rows of its share, augmented as in the whole batch
    with Loader(data, 5, augment, shift, flip) as loader:
        half = _read(loader, training_batches(40, 8, 5, 1, first=1, world=2, rank=1))
    for (whole, y_whole), (part, y_part) in zip(expected, half):
        assert torch.equal(part, whole[1::2]) and torch.equal(y_part, y_whole[1::2])


def test_cifar_recipe_pads_crops_and_flips_by_pinned_draws():
    """A fixed draw: image ``position`` of batch 2 of epoch 1 (seed 0) is the crop at (top, left) of
    the image padded by 4 zeros, flipped or not, as pinned here (same config and seed, same numbers)."""
    img = torch.randint(0, 256, (3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    transform = aug.train_transform("cifar", 0, False, 32)
    padded = F.pad(img, [4] * 4)
    pinned = {0: (3, 5, False), 1: (2, 8, True), 2: (5, 7, False), 3: (7, 1, True)}
    state = torch.get_rng_state()
    with aug.seeded_draws() as reseed:
        for position, (top, left, flip) in pinned.items():
            reseed(0, 1, 2, position)
            crop = padded[:, top:top + 32, left:left + 32]
            assert torch.equal(transform(img), crop.flip(-1) if flip else crop), position
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state is untouched
    # shift/flip with recipe none are the same transforms with padding `shift`
    assert aug.train_transform("none", 0, False, 32) is None
    with aug.seeded_draws() as reseed:
        reseed(0, 1, 2, 1)
        a = aug.train_transform("none", 4, True, 32)(img)
        reseed(0, 1, 2, 1)
        assert torch.equal(a, transform(img))
    assert aug.conflict("cifar", 4, False) and "train.shift" in aug.conflict("imagenet", 0, True)
    assert aug.conflict("autoaugment", 0, False) == "train.augment = 'autoaugment'; allowed: none, cifar, imagenet"
    assert aug.conflict("none", 4, True) is None


def test_imagenet_recipe_on_disk_random_resized_crops_for_training_and_256_224_for_evaluation(tmp_path):
    paths = write_jpegs(tmp_path, [(70, 90), (64, 64), (100, 66), (80, 120)])
    images = ImageFolderImages(paths, 56)
    targets = torch.arange(4)
    data = {"train": (images, targets), "val": (images, targets)}
    keys = training_batches(4, 4, 0, 0)
    with Loader(data, 0, "imagenet", workers=2) as loader:
        (x, y), = _read(loader, keys)
        (v, _), = _read(loader, evaluation_batches("val", 4, 4))
    assert x.shape == v.shape == (4, 56, 56, 3) and x.dtype == v.dtype == torch.uint8
    assert torch.equal(y, targets[torch.from_numpy(keys[0].rows)])
    # evaluation: the shorter side resized to 56 * 256 / 224 = 64, then the centre 56 x 56
    for i in range(4):
        full = read_image(paths[i])
        assert torch.equal(v[i].permute(2, 0, 1), F.center_crop(F.resize(full, [64], antialias=True), [56, 56]))
    # training: random crops of the whole image, not the centre crop of the plain path
    plain = images[torch.from_numpy(keys[0].rows)]
    assert not torch.equal(x, plain)
    with Loader(data, 0, "imagenet") as loader:  # the same draws in this process
        (x0, _), = _read(loader, keys)
    assert torch.equal(x, x0)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_is_named_in_one_line_whatever_reads_it(tmp_path, workers):
    paths = write_jpegs(tmp_path, [(20, 20), (20, 20)])
    (tmp_path / "1.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    data = {"train": (ImageFolderImages(paths, 16), torch.zeros(2, dtype=torch.int64))}
    with Loader(data, 0, "cifar", workers=workers) as loader:
        with pytest.raises(InputError) as err:
            _read(loader, training_batches(2, 2, 0, 0))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / '1.jpg'}: unreadable image") and "\n" not in message
    with pytest.raises(InputError, match="nope.jpg: unreadable image"):
        read_image(tmp_path / "nope.jpg")


def test_loader_settings_errors_name_the_key():
    x, y = _data()
    with pytest.raises(ValueError, match=r"train.workers = -1; allowed: an integer >= 0"):
        Loader({"train": (x, y)}, 0, workers=-1)
    with pytest.raises(ValueError, match="train.augment = 'cifar' brings its own crops and flips"):
        Loader({"train": (x, y)}, 0, "cifar", shift=2)
    assert isinstance(training_batches(40, 8, 0, 0)[0], Batch)
