"""`pruneinterp info FILE` says what a checkpoint, pruned network, activations file or table is."""

import pandas as pd
import torch

from pruneinterp.cli import main


def test_info_reads_checkpoints_activations_and_tables_in_a_results_tree(tmp_path, capsys):
    data = tmp_path / "data"
    run = tmp_path / "results/fb/convnet-w4/seed0/magnitude_global/iterative/rewind/level1"
    dense = tmp_path / "results/dense/convnet-w4/seed0"
    assert main(["make-data", "--out", str(data), "--n-train", "64", "--n-val", "32", "--n-probe", "12"]) == 0
    assert main(["train", "--train", str(data / "train.npz"), "--val", str(data / "val.npz"), "--out-dir", str(dense),
                 "--model-kwargs", '{"width": 4}', "--train-config", '{"epochs": 1, "batch_size": 16, "precision": "fp32"}',
                 "--rewind-iteration", "1"]) == 0
    assert main(["prune", "--checkpoint", str(dense / "checkpoint.pt"), "--out", str(run / "pruned.pt"),
                 "--fraction", "0.2", "--level", "1"]) == 0
    assert main(["extract", "--checkpoint", str(dense / "checkpoint.pt"), "--probe", str(data / "probe"),
                 "--out", str(dense / "activations.h5"), "--layer", "conv4"]) == 0
    assert main(["dissect", "--activations", str(dense / "activations.h5"), "--probe", str(data / "probe"),
                 "--out", str(dense / "dissection.csv"), "--layer", "conv4"]) == 0
    capsys.readouterr()

    assert main(["info", str(dense / "checkpoint.pt")]) == 0
    out = capsys.readouterr().out
    assert "run: study dense, model convnet-w4, seed 0, level 0" in out
    assert "kind: checkpoint" in out and "prunable weights: " in out and "(100%; 0% removed)" in out
    val = pd.read_csv(dense / "metrics.csv").query("split == 'val'")["top1"].iloc[-1]
    assert f"metrics.csv: val top1 {val:.4f} (epoch 1)" in out

    assert main(["info", str(run / "pruned.pt")]) == 0
    out = capsys.readouterr().out
    assert ("run: study fb, model convnet-w4, seed 0, method magnitude_global, schedule iterative, retrain rewind, "
            "level 1") in out
    masks = torch.load(run / "pruned.pt", weights_only=True)["masks"]
    kept, total = sum(int(m.sum()) for m in masks.values()), sum(m.numel() for m in masks.values())
    assert f"prunable weights: {kept:,} of {total:,} remaining" in out and "method: magnitude_global" in out
    assert "metrics.csv" not in out  # a pruned network has no metrics of its own

    assert main(["info", str(dense / "activations.h5"), str(dense / "dissection.csv")]) == 0
    out = capsys.readouterr().out
    assert "kind: activations (Contract 2)" in out and "images: 12" in out
    assert "layer conv4: float32 (12, 8, 8, 8)" in out and "checkpoint_sha256: " in out and "probe_index_sha256: " in out
    units = pd.read_csv(dense / "dissection.csv")
    assert "kind: dissection table (Contract 3)" in out
    assert f"interpretable units: {int(units['interpretable'].sum())} of 8" in out


def test_info_names_a_missing_or_unknown_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["info", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt: no such file" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "notes.txt")]) == 2
    assert "unknown kind of file" in capsys.readouterr().err
