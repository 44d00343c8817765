"""Reliability: identical runs give identical bytes; nothing is lost or left half-written."""

import hashlib

import torch

from pruneinterp.io import load_checkpoint, save_checkpoint


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_the_same_checkpoint_saved_twice_is_the_same_bytes(tmp_path):
    """torch.save given a path names the zip's root folder after the file, and atomic writes use a
    random temporary name: saved through a file object the archive is byte-identical."""
    payload = {"state_dict": {"w": torch.arange(6.0).view(2, 3)}, "level": 3}
    save_checkpoint(tmp_path / "a" / "checkpoint.pt", payload)
    save_checkpoint(tmp_path / "b" / "other_name.pt", payload)
    assert _digest(tmp_path / "a" / "checkpoint.pt") == _digest(tmp_path / "b" / "other_name.pt")
    assert torch.equal(load_checkpoint(tmp_path / "b" / "other_name.pt")["state_dict"]["w"], payload["state_dict"]["w"])


def test_two_identical_training_runs_give_identical_files(tmp_path):
    from conftest import train_tiny_dense

    cfg = dict(epochs=1, batch_size=32, lr=0.05, warmup_iterations=0, precision="fp32")
    runs = [train_tiny_dense(tmp_path / name, 64, 32, cfg, 1) for name in ("one", "two")]
    for key in ("init", "rewind", "checkpoint", "metrics"):
        assert _digest(runs[0][key]) == _digest(runs[1][key]), key
