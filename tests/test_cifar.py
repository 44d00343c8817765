"""CIFAR-10/100 from torchvision's on-disk format: decoded as torchvision decodes it, errors name
the path and the missing files, and the workflow plans a run on it."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import yaml

from pruneinterp.cli import main
from pruneinterp.data.cifar import expected_files, read_split


def write_cifar(root, variant="cifar10", per_batch=4, seed=0):
    """A small CIFAR in torchvision's exact layout: pickled dicts of (N, 3072) uint8 rows (R plane,
    then G, then B, each row-major 32x32) and labels. Returns the images as (N, 32, 32, 3)."""
    rng = np.random.default_rng(seed)
    images = {}
    for rel in expected_files(variant):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        name = path.name
        if name in ("batches.meta", "meta"):
            key = b"label_names" if variant == "cifar10" else b"fine_label_names"
            obj = {key: [f"class{i}".encode() for i in range(10 if variant == "cifar10" else 100)]}
        else:
            hwc = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
            images[name] = hwc
            rows = hwc.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
            key = b"labels" if variant == "cifar10" else b"fine_labels"
            obj = {b"data": rows, key: rng.integers(0, 10, per_batch).tolist(), b"batch_label": name.encode()}
        with open(path, "wb") as f:
            pickle.dump(obj, f)
    return images


@pytest.mark.parametrize("variant", ["cifar10", "cifar100"])
def test_splits_decode_to_the_images_written(tmp_path, variant):
    images = write_cifar(tmp_path, variant)
    train, targets, names = read_split(tmp_path, variant, "train")
    order = [f"data_batch_{i}" for i in range(1, 6)] if variant == "cifar10" else ["train"]
    assert train.dtype == np.uint8 and train.shape == (4 * len(order), 32, 32, 3)
    assert np.array_equal(train, np.concatenate([images[n] for n in order]))
    assert targets.dtype == np.int64 and len(targets) == len(train)
    assert names[:2] == ["class0", "class1"]
    test, _, _ = read_split(tmp_path, variant, "test")
    assert np.array_equal(test, images["test_batch" if variant == "cifar10" else "test"])


def test_a_missing_or_broken_cifar_directory_is_named(tmp_path, capsys):
    write_cifar(tmp_path / "c")
    (tmp_path / "c/cifar-10-batches-py/data_batch_3").unlink()
    assert main(["convert-cifar", "--root", str(tmp_path / "c"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "c") in err and "missing cifar-10-batches-py/data_batch_3" in err
    assert not (tmp_path / "out/train.npz").exists() and not (tmp_path / "out/val.npz").exists()
    (tmp_path / "c/cifar-10-batches-py/data_batch_3").write_bytes(b"not a pickle")
    assert main(["convert-cifar", "--root", str(tmp_path / "c"), "--out", str(tmp_path / "out")]) == 2
    assert "data_batch_3: not a readable CIFAR batch" in capsys.readouterr().err


def test_convert_then_train_on_cifar(tmp_path):
    write_cifar(tmp_path / "c", per_batch=16)
    assert main(["convert-cifar", "--root", str(tmp_path / "c"), "--out", str(tmp_path / "d")]) == 0
    with np.load(tmp_path / "d/train.npz") as z:
        assert z["images"].shape == (80, 32, 32, 3) and list(z["classes"][:1]) == ["class0"]
    assert main(["train", "--train", str(tmp_path / "d/train.npz"), "--val", str(tmp_path / "d/val.npz"),
                 "--out-dir", str(tmp_path / "m"), "--model-kwargs", '{"width": 4}',
                 "--train-config", '{"epochs": 1, "batch_size": 16, "precision": "fp32"}',
                 "--rewind-iteration", "1"]) == 0
    assert (tmp_path / "m/checkpoint.pt").is_file()


def test_the_workflow_plans_a_cifar_run(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    write_cifar(tmp_path / "cifar")
    (tmp_path / "probe").mkdir()  # the DAG is planned, not run: the probe directory must only exist
    cfg = yaml.safe_load((repo / "config/test.yaml").read_text())
    cfg["data"] = {"source": "cifar10", "cifar_dir": str(tmp_path / "cifar"), "probe_dir": str(tmp_path / "probe")}
    cfg["studies"] = {"blakeney": cfg["studies"]["blakeney"]}
    cfg["dissect"] = {**cfg["dissect"], "ground_truth": {"labels": []}, "random_baseline": False}
    (tmp_path / "cifar.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s", str(repo / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(tmp_path / "cifar.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "convert_cifar" in proc.stdout and "generate_data" not in proc.stdout
    assert "results/data/cifar10/train.npz" in proc.stdout
