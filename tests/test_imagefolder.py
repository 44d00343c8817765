"""Classification data on disk (ImageFolder layout): index, lazy loading, training on it."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from conftest import write_jpegs
from pruneinterp.data.imagefolder import index_imagefolder, load_image, load_index, read_image
from pruneinterp.io import InputError


def _tree(root, n=6, size=(20, 12)):
    for c, colour in enumerate([(250, 0, 0), (0, 0, 250)]):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", size, colour).save(d / f"{i}.png")


def test_index_and_lazy_images_behave_like_the_in_memory_tensor(tmp_path):
    _tree(tmp_path / "train")
    df = index_imagefolder(tmp_path / "train", tmp_path / "train.csv", size=8)
    assert list(df.columns) == ["path", "target", "class", "size"] and len(df) == 12
    images, targets = load_index(tmp_path / "train.csv")
    assert len(images) == 12 and images.shape == (12, 8, 8, 3)
    assert targets.tolist() == [0] * 6 + [1] * 6
    batch = images[torch.tensor([0, 11])]
    assert batch.dtype == torch.uint8 and batch.shape == (2, 8, 8, 3)
    assert batch[0, :, :, 0].float().mean() > 200 and batch[1, :, :, 2].float().mean() > 200
    assert images[2:5].shape == (3, 8, 8, 3)


def test_resize_shorter_side_then_centre_crop(tmp_path):
    img = np.zeros((10, 30, 3), np.uint8)
    img[:, 10:20] = 255  # the central third is white
    Image.fromarray(img).save(tmp_path / "x.png")
    out = load_image(tmp_path / "x.png", 10)
    assert out.shape == (10, 10, 3) and out.min() > 200


def test_missing_or_bad_index_is_named(tmp_path):
    with pytest.raises(InputError, match="not found"):
        index_imagefolder(tmp_path / "nope", tmp_path / "i.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="bad.csv"):
        load_index(tmp_path / "bad.csv")


def test_dense_training_and_extraction_on_an_imagefolder_split(tmp_path, probe_dir):
    from pruneinterp import stages
    from pruneinterp.activations import extract

    _tree(tmp_path / "train", n=8, size=(36, 32))
    _tree(tmp_path / "val", n=2, size=(32, 32))
    index_imagefolder(tmp_path / "train", tmp_path / "train.csv", size=32)
    index_imagefolder(tmp_path / "val", tmp_path / "val.csv", size=32)
    out = {k: str(tmp_path / "dense" / f"{k}.pt") for k in ("init", "rewind", "checkpoint")}
    out["metrics"] = str(tmp_path / "dense" / "metrics.csv")
    cfg = {"epochs": 2, "batch_size": 4, "lr": 0.05, "precision": "fp32", "warmup_iterations": 0}
    stages.train_dense(str(tmp_path / "train.csv"), str(tmp_path / "val.csv"), out, "convnet", {"width": 4}, cfg, 0, 1)
    metrics = pd.read_csv(out["metrics"])
    assert set(metrics["split"]) == {"train_running", "val"} and metrics["epoch"].max() == 2
    # the same checkpoint extracts on a Broden-format probe (generated here)
    extract(out["checkpoint"], probe_dir, tmp_path / "a.h5", ["conv4"])
    assert (tmp_path / "a.h5").is_file()


def test_jpegs_decode_alike_by_torchvision_and_pil_and_other_formats_fall_back_to_pil(tmp_path):
    path, = write_jpegs(tmp_path, [(40, 48)])
    tv, pil = read_image(path, "torchvision"), read_image(path, "pil")
    assert tv.shape == (3, 40, 48) and tv.dtype == torch.uint8
    assert (tv.int() - pil.int()).abs().max() <= 2  # both libjpeg-turbo; at most rounding apart
    png = np.random.default_rng(1).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    Image.fromarray(png).save(tmp_path / "x.png")
    assert torch.equal(read_image(tmp_path / "x.png").permute(1, 2, 0), torch.from_numpy(png))  # lossless, via PIL
    Image.fromarray(png[..., 0]).save(tmp_path / "grey.jpg")
    assert read_image(tmp_path / "grey.jpg").shape == (3, 10, 14)  # greyscale JPEG -> RGB
    with pytest.raises(ValueError, match="decoder = 'cv2'; allowed: torchvision, pil"):
        read_image(path, "cv2")
