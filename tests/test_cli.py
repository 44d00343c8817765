import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from pruneinterp.cli import main

PRUNEINTERP = [sys.executable, "-m", "pruneinterp"]


def test_every_stage_has_help():
    out = subprocess.run(PRUNEINTERP + ["--help"], capture_output=True, text=True, check=True).stdout
    for stage in ("make-data", "make-probe", "train", "prune", "retrain", "extract", "dissect"):
        assert stage in out


def test_missing_activations_file_is_named_and_no_output(tmp_path, probe_dir, capsys):
    out = tmp_path / "units.csv"
    code = main(["dissect", "--activations", str(tmp_path / "missing.h5"), "--probe", str(probe_dir),
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "missing.h5" in err and "not found" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_corrupt_hdf5_and_checkpoint_are_named(tmp_path, probe_dir, capsys):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5 at all")
    assert main(["dissect", "--activations", str(bad), "--probe", str(probe_dir), "--out",
                 str(tmp_path / "u.csv")]) == 2
    assert "bad.h5" in capsys.readouterr().err
    ckpt = tmp_path / "bad.pt"
    ckpt.write_bytes(b"garbage")
    assert main(["extract", "--checkpoint", str(ckpt), "--probe", str(probe_dir), "--out", str(tmp_path / "a.h5"),
                 "--layer", "conv4"]) == 2
    assert "bad.pt" in capsys.readouterr().err
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "u.csv").exists()


def test_missing_probe_is_named(tmp_path, capsys):
    assert main(["dissect", "--activations", "x.h5", "--probe", str(tmp_path / "noprobe"), "--out",
                 str(tmp_path / "u.csv")]) == 2
    assert "noprobe" in capsys.readouterr().err


def test_cli_chain_make_probe_train_extract_dissect(tmp_path):
    data = tmp_path / "data"
    assert main(["make-data", "--out", str(data), "--n-train", "64", "--n-val", "32", "--n-probe", "12"]) == 0
    assert main(["train", "--train", str(data / "train.npz"), "--val", str(data / "val.npz"), "--out-dir",
                 str(tmp_path / "dense"), "--model-kwargs", '{"width": 4}',
                 "--train-config", '{"epochs": 1, "batch_size": 16, "precision": "fp32"}',
                 "--rewind-iteration", "1"]) == 0
    assert main(["prune", "--checkpoint", str(tmp_path / "dense/checkpoint.pt"), "--out",
                 str(tmp_path / "pruned.pt"), "--fraction", "0.2"]) == 0
    assert main(["prune", "--checkpoint", str(tmp_path / "dense/checkpoint.pt"), "--out",
                 str(tmp_path / "pruned_s.pt"), "--fraction", "0.5", "--method", "connection_l1",
                 "--layer-scale", '{"fc": 0.5}', "--level", "3"]) == 0
    assert main(["retrain", "--pruned", str(tmp_path / "pruned_s.pt"), "--strategy", "finetune_adam", "--train",
                 str(data / "train.npz"), "--val", str(data / "val.npz"), "--out-dir", str(tmp_path / "ft"),
                 "--train-config", '{"batch_size": 16, "precision": "fp32"}',
                 "--finetune", '{"epochs": 2, "adam": {"lr": 0.001, "gamma": 0.9}}']) == 0
    ft = pd.read_csv(tmp_path / "ft/metrics.csv")
    assert set(ft["level"]) == {3} and sorted(ft.loc[ft["split"] == "val", "epoch"]) == [0, 1, 2]
    assert (ft["retrain"] == "finetune_adam").all()
    assert main(["retrain", "--pruned", str(tmp_path / "pruned_s.pt"), "--strategy", "rewind", "--train",
                 str(data / "train.npz"), "--val", str(data / "val.npz"), "--out-dir", str(tmp_path / "rw")]) == 2
    assert not (tmp_path / "rw/checkpoint.pt").exists()
    assert main(["extract", "--checkpoint", str(tmp_path / "dense/checkpoint.pt"), "--probe", str(data / "probe"),
                 "--out", str(tmp_path / "a.h5"), "--layer", "conv3", "--layer", "conv4"]) == 0
    with h5py.File(tmp_path / "a.h5") as f:
        assert f["layers/conv4"].shape == (12, 8, 8, 8)
        assert f["layers/conv3"].dtype == np.float32
        assert np.array_equal(f["image_index"][:], np.arange(12))
        assert f["logits"].shape == (12, 10) and f["targets"].shape == (12,)
        for attr in ("model", "checkpoint_sha256", "probe", "pruneinterp_version"):
            assert attr in f.attrs
        # the receptive fields, for dissect --upsample fieldmap (NetDissect's upsampleL)
        assert f["layers/conv4"].attrs["fieldmap"].tolist() == [[-11, -11], [26, 26], [4, 4]]
        assert f.attrs["input_size"].tolist() == [32, 32]
    assert main(["dissect", "--activations", str(tmp_path / "a.h5"), "--probe", str(data / "probe"), "--out",
                 str(tmp_path / "units.csv"), "--layer", "conv4", "--iou-threshold", "0.05"]) == 0
    units = pd.read_csv(tmp_path / "units.csv")
    assert len(units) == 8 and (units["layer"] == "conv4").all()
    assert (units["interpretable"] == (units["iou"] > 0.05)).all()
    assert main(["dissect", "--activations", str(tmp_path / "a.h5"), "--probe", str(data / "probe"), "--out",
                 str(tmp_path / "units_fm.csv"), "--layer", "conv4", "--upsample", "fieldmap"]) == 0
    fm = pd.read_csv(tmp_path / "units_fm.csv")
    assert len(fm) == 8 and (fm["threshold"] == units["threshold"]).all()  # same thresholds, other masks


def test_dissect_writes_iou_matrix_and_bootstrap_and_ground_truth_cli(tmp_path, probe_dir):
    from pruneinterp.data.shapes import label_names
    from pruneinterp.dissection import read_iou_file

    acts = np.maximum(np.random.default_rng(0).standard_normal((40, 3, 8, 8), dtype=np.float32), 0)
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("image_index", data=np.arange(40))
        f.create_dataset("layers/conv4", data=acts)
        f.create_dataset("layers/fc", data=acts[:, :, 0, 0])
    out, iou, boot = tmp_path / "u.csv", tmp_path / "iou.h5", tmp_path / "boot.csv"
    assert main(["dissect", "--activations", str(path), "--probe", str(probe_dir), "--out", str(out), "--layer",
                 "conv4", "--iou-out", str(iou), "--bootstrap-out", str(boot), "--bootstrap-replicates", "7",
                 "--budget", "2048"]) == 0
    units = pd.read_csv(out)
    matrix = read_iou_file(iou)["conv4"]
    assert matrix.shape == (3, len(label_names()))  # every label of the shapes probe
    np.testing.assert_allclose(units["iou"], matrix.max(1), atol=1e-6)
    b = pd.read_csv(boot)
    assert len(b) == 7 and set(b["layer"]) == {"conv4"}
    # a linear layer cannot be dissected: one-line error naming the layer, no output
    assert main(["dissect", "--activations", str(path), "--probe", str(probe_dir), "--out",
                 str(tmp_path / "fc.csv"), "--layer", "fc"]) == 2
    assert not (tmp_path / "fc.csv").exists()
    gt = tmp_path / "gt.csv"
    assert main(["ground-truth", "--probe", str(probe_dir), "--out", str(gt), "--label", "circle",
                 "--noise-units", "1"]) == 0
    assert list(pd.read_csv(gt)["planted"]) == ["circle", "noise"]


def test_cli_dissect_reproduces_hand_computed_ious_on_the_broden_fixture(tmp_path):
    from broden_fixture import EXPECTED_IOU, write_broden_fixture

    from pruneinterp.dissection import read_iou_file

    acts = write_broden_fixture(tmp_path / "broden")
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("image_index", data=np.arange(3))
        f.create_dataset("layers/layer4", data=acts)
    # 27 of the 48 values are 0 and 21 are 1: quantile 0.436 puts T_k at 0.508, between them
    assert main(["dissect", "--activations", str(tmp_path / "a.h5"), "--probe", str(tmp_path / "broden"),
                 "--out", str(tmp_path / "u.csv"), "--quantile", "0.436", "--iou-out", str(tmp_path / "iou.h5")]) == 0
    units = pd.read_csv(tmp_path / "u.csv")
    assert units.loc[0, "threshold"] == pytest.approx(0.508, abs=1e-9)
    assert units.loc[0, "label"] == "red-c" and units.loc[0, "iou"] == pytest.approx(9 / 17, abs=1e-12)
    matrix = read_iou_file(tmp_path / "iou.h5")
    for name, value in zip(matrix["labels"], matrix["layer4"][0]):
        assert value == pytest.approx(EXPECTED_IOU[name], abs=1e-7), name


def test_similarity_cli_compares_two_activation_files(tmp_path):
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((60, 6, 4, 4)).astype(np.float32)
    fc = rng.standard_normal((60, 5)).astype(np.float32)
    for name, a, f2 in (("a.h5", acts, fc), ("b.h5", 2 * acts + 1, fc @ rng.standard_normal((5, 5)).astype(np.float32))):
        with h5py.File(tmp_path / name, "w") as f:
            f.create_dataset("image_index", data=np.arange(60))
            f.create_dataset("layers/conv4", data=a)
            f.create_dataset("layers/fc", data=f2)
    out = tmp_path / "sim.csv"
    assert main(["similarity", "--a", str(tmp_path / "a.h5"), "--b", str(tmp_path / "b.h5"), "--out", str(out),
                 "--method", "svcca", "--method", "cka", "--keep", "1.0"]) == 0
    sim = pd.read_csv(out)
    assert list(sim.columns) == ["layer_a", "layer_b", "method", "similarity", "dims_a", "dims_b", "n_samples"]
    assert len(sim) == 4 and np.allclose(sim["similarity"][sim["layer_a"] == "conv4"], 1.0)
    assert sim.loc[(sim["layer_a"] == "fc") & (sim["method"] == "svcca"), "similarity"].item() == pytest.approx(1.0)
    assert set(sim["n_samples"]) == {960, 60}  # conv: every (image, position) a sample
    assert main(["similarity", "--a", str(tmp_path / "a.h5"), "--b", str(tmp_path / "b.h5"), "--out",
                 str(tmp_path / "p.csv"), "--pair", "conv4:fc", "--conv", "mean"]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["layer_b"].tolist() == ["fc"]
    with h5py.File(tmp_path / "c.h5", "w") as f:  # other images: refused, no output
        f.create_dataset("image_index", data=np.arange(1, 61))
        f.create_dataset("layers/conv4", data=acts)
    assert main(["similarity", "--a", str(tmp_path / "a.h5"), "--b", str(tmp_path / "c.h5"), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert not (tmp_path / "x.csv").exists()


def test_outputs_get_the_usual_file_permissions(tmp_path):
    import os

    from pruneinterp.io import write_csv

    old = os.umask(0o022)
    try:
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "t.csv").stat().st_mode & 0o777 == 0o644


def test_similarity_samples_give_the_same_table_as_full_activations(tmp_path):
    """`extract --similarity-samples` keeps only the (image, position) rows the similarity stage
    compares; comparing two such files gives exactly the table of the full activations, and files
    sampled differently are refused."""
    data = tmp_path / "data"
    assert main(["make-data", "--out", str(data), "--n-train", "64", "--n-val", "32", "--n-probe", "20"]) == 0
    for seed in (0, 1):
        assert main(["train", "--train", str(data / "train.npz"), "--val", str(data / "val.npz"), "--out-dir",
                     str(tmp_path / f"s{seed}"), "--model-kwargs", '{"width": 4}', "--seed", str(seed),
                     "--train-config", '{"epochs": 1, "batch_size": 16, "precision": "fp32"}',
                     "--rewind-iteration", "1"]) == 0
    layers = ["--layer", "conv3", "--layer", "conv4", "--layer", "fc"]
    for seed in (0, 1):
        ckpt, out = str(tmp_path / f"s{seed}/checkpoint.pt"), tmp_path / f"s{seed}"
        assert main(["extract", "--checkpoint", ckpt, "--probe", str(data / "probe"), "--out", str(out / "full.h5"),
                     *layers]) == 0
        assert main(["extract", "--checkpoint", ckpt, "--probe", str(data / "probe"), "--out", str(out / "samples.h5"),
                     *layers, "--similarity-samples", "--max-samples", "300", "--seed", "3"]) == 0
        assert main(["extract", "--checkpoint", ckpt, "--probe", str(data / "probe"), "--out", str(out / "other.h5"),
                     *layers, "--similarity-samples", "--max-samples", "300", "--seed", "4"]) == 0
    with h5py.File(tmp_path / "s0/samples.h5") as f:
        assert f["layers/conv4"].shape == (300, 8) and f["layers/fc"].shape == (20, 10)
        assert f.attrs["similarity_max_samples"] == 300 and f.attrs["similarity_seed"] == 3
    common = ["--max-samples", "300", "--seed", "3"]
    assert main(["similarity", "--a", str(tmp_path / "s0/full.h5"), "--b", str(tmp_path / "s1/full.h5"), "--out",
                 str(tmp_path / "full.csv"), *common]) == 0
    assert main(["similarity", "--a", str(tmp_path / "s0/samples.h5"), "--b", str(tmp_path / "s1/samples.h5"),
                 "--out", str(tmp_path / "samples.csv"), *common]) == 0
    assert (tmp_path / "full.csv").read_bytes() == (tmp_path / "samples.csv").read_bytes()
    assert main(["similarity", "--a", str(tmp_path / "s0/samples.h5"), "--b", str(tmp_path / "s1/other.h5"),
                 "--out", str(tmp_path / "mixed.csv")]) == 2
    assert not (tmp_path / "mixed.csv").exists()
