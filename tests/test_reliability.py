"""Reliability: identical runs give identical bytes; nothing is lost or left half-written."""

import hashlib

import pytest
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


def test_make_probe_and_make_data_never_replace_a_directory_they_did_not_generate(tmp_path, capsys):
    """Pointed at a real dataset by mistake, the generators refuse (one line, exit 2) and leave it as
    it was; their own output they replace; --force overrides."""
    from pruneinterp.cli import main

    foreign = tmp_path / "broden"
    (foreign / "images").mkdir(parents=True)
    (foreign / "index.csv").write_text("image,split\n")
    for argv in (["make-probe", "--out", str(foreign), "--n", "3"],
                 ["make-data", "--out", str(foreign), "--n-train", "4", "--n-val", "2", "--n-probe", "3"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(foreign) in err and "--force" in err, err
        assert sorted(p.name for p in foreign.iterdir()) == ["images", "index.csv"]  # untouched
    ours = tmp_path / "probe"
    assert main(["make-probe", "--out", str(ours), "--n", "3"]) == 0
    assert main(["make-probe", "--out", str(ours), "--n", "4"]) == 0  # its own output: replaced
    assert len((ours / "index.csv").read_text().splitlines()) == 5
    assert main(["make-data", "--out", str(tmp_path / "d"), "--n-train", "4", "--n-val", "2", "--n-probe", "3"]) == 0
    assert main(["make-data", "--out", str(tmp_path / "d"), "--n-train", "4", "--n-val", "2", "--n-probe", "3"]) == 0
    assert main(["make-probe", "--out", str(foreign), "--n", "3", "--force"]) == 0
    assert (foreign / "index.csv").read_text().count("\n") == 4
    assert main(["make-probe", "--out", str(tmp_path / "empty"), "--n", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def test_analyses_refuse_activations_of_another_probe(tmp_path, capsys):
    """Activations extracted on probe A, analysed with probe B of the same size (different images):
    dissect, mis and similarity refuse with one line, instead of writing a complete-looking wrong
    table; an empty probe is an error at extraction."""
    import h5py
    import pandas as pd

    from conftest import train_tiny_dense
    from pruneinterp.cli import main

    out = train_tiny_dense(tmp_path / "t", 64, 32, dict(epochs=1, batch_size=32, precision="fp32"), 1)
    for name, seed in (("a", 0), ("b", 1)):
        assert main(["make-probe", "--out", str(tmp_path / name), "--n", "30", "--seed", str(seed)]) == 0
    assert main(["extract", "--checkpoint", out["checkpoint"], "--probe", str(tmp_path / "a"), "--out",
                 str(tmp_path / "a.h5"), "--layer", "conv4"]) == 0
    with h5py.File(tmp_path / "a.h5") as f:
        assert int(f.attrs["probe_images"]) == 30 and len(str(f.attrs["probe_index_sha256"])) == 64
    capsys.readouterr()
    for argv in (["dissect", "--activations", str(tmp_path / "a.h5"), "--probe", str(tmp_path / "b"), "--out",
                  str(tmp_path / "units.csv"), "--iou-out", str(tmp_path / "iou.h5")],
                 ["mis", "--activations", str(tmp_path / "a.h5"), "--probe", str(tmp_path / "b"), "--out",
                  str(tmp_path / "mis.csv"), "--n-tasks", "2", "--k", "2"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "another probe" in err, err
    assert not any((tmp_path / n).exists() for n in ("units.csv", "iou.h5", "mis.csv"))
    assert main(["dissect", "--activations", str(tmp_path / "a.h5"), "--probe", str(tmp_path / "a"), "--out",
                 str(tmp_path / "units.csv")]) == 0  # its own probe: fine
    assert len(pd.read_csv(tmp_path / "units.csv")) == 8
    # similarity of files from two probes
    assert main(["extract", "--checkpoint", out["checkpoint"], "--probe", str(tmp_path / "b"), "--out",
                 str(tmp_path / "b.h5"), "--layer", "conv4"]) == 0
    capsys.readouterr()
    assert main(["similarity", "--a", str(tmp_path / "a.h5"), "--b", str(tmp_path / "b.h5"), "--out",
                 str(tmp_path / "sim.csv")]) == 2
    assert "different probes" in capsys.readouterr().err
    # an empty probe: no activations file
    empty = tmp_path / "empty"
    empty.mkdir()
    header = (tmp_path / "a" / "index.csv").read_text().splitlines()[0]
    for f in (tmp_path / "a").glob("*.csv"):
        (empty / f.name).write_text(f.read_text())
    (empty / "index.csv").write_text(header + "\n")
    assert main(["extract", "--checkpoint", out["checkpoint"], "--probe", str(empty), "--out",
                 str(tmp_path / "e.h5"), "--layer", "conv4"]) == 2
    assert "no images" in capsys.readouterr().err and not (tmp_path / "e.h5").exists()


def test_side_outputs_appear_only_with_the_main_output(tmp_path, monkeypatch):
    """dissect writes its IoU matrices, bootstrap table and main table together: when the main table
    cannot be written (here: a failing CSV writer, as on a full disk), none of them is left."""
    import pytest

    from pruneinterp import stages
    from pruneinterp.io import atomic_paths

    real = stages.write_csv

    def failing(df, path):
        if str(path).startswith(str(tmp_path / ".units.csv")):
            raise OSError(28, "No space left on device")
        real(df, path)

    with pytest.raises(OSError):
        with atomic_paths(tmp_path / "side.csv", None, tmp_path / "units.csv") as (side, none, main):
            assert none is None
            side.write_text("x\n")
            failing(None, main)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_dissect_and_mis_leave_no_side_output_when_the_main_one_fails(tmp_path, probe_dir, monkeypatch):
    import numpy as np
    import pytest

    import h5py

    from pruneinterp import mis, stages
    from pruneinterp.data.broden import Probe
    from pruneinterp.io import write_csv as real_write

    n = len(Probe(probe_dir))
    acts = tmp_path / "a.h5"
    with h5py.File(acts, "w") as f:
        f.create_dataset("image_index", data=np.arange(n))
        f.create_dataset("layers/conv4", data=np.random.default_rng(0).random((n, 4, 8, 8)).astype(np.float32))

    def failing(df, path):
        if "units" in str(path) or ".mis.csv" in str(path):
            raise OSError(28, "No space left on device")
        real_write(df, path)

    monkeypatch.setattr(stages, "write_csv", failing)
    with pytest.raises(OSError):
        stages.dissect(str(acts), str(probe_dir), str(tmp_path / "units.csv"), iou_out=str(tmp_path / "iou.h5"),
                       bootstrap_out=str(tmp_path / "boot.csv"), cfg={"bootstrap": {"replicates": 3}})
    import pruneinterp.io as io

    monkeypatch.setattr(io, "write_csv", failing)
    with pytest.raises(OSError):
        mis.score_file(str(acts), str(probe_dir), str(tmp_path / "mis.csv"), cfg={"n_tasks": 2, "k": 2},
                       tasks_out=str(tmp_path / "tasks.csv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]


def test_sigterm_removes_the_temporaries_and_exits_non_zero(tmp_path):
    """SLURM sends SIGTERM at walltime or on scancel: the command stops with status 143 and leaves
    no temporary behind; a SIGKILLed one leaves one, which the next job of that output removes."""
    import signal
    import subprocess
    import sys
    import time
    from types import SimpleNamespace

    from pruneinterp.workflow import job

    out = tmp_path / "probe"
    proc = subprocess.Popen([sys.executable, "-m", "pruneinterp", "make-probe", "--out", str(out), "--n", "5000"],
                            stderr=subprocess.PIPE, text=True)
    tmp = tmp_path / ".probe.tmp"
    deadline = time.time() + 60
    while not (tmp / "images" / "shapes").is_dir() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # mid-write
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 143
    assert "terminated by signal" in proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the temporary nor a half probe
    # SIGKILL: no cleanup can run ...
    proc = subprocess.Popen([sys.executable, "-m", "pruneinterp", "make-probe", "--out", str(out), "--n", "5000"])
    deadline = time.time() + 60
    while not (tmp / "images" / "shapes").is_dir() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")  # as atomic_path leaves them
    assert tmp.is_dir()
    # ... so the next job that owns these outputs sweeps the orphans before it starts
    smk = SimpleNamespace(log=[str(tmp_path / "job.log")], threads=1, rule="r", wildcards={},
                          output=[str(out), str(tmp_path / "checkpoint.pt")])
    with job(smk):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.log"]
    assert "left by an earlier attempt" in (tmp_path / "job.log").read_text()
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_bad_files_and_options_are_one_line_never_a_traceback(tmp_path, capsys):
    """A mask of another model, a malformed label.csv / targets.csv, a mistyped option, a read-only
    output directory: one line naming the file or option, exit status 2."""
    import os
    import shutil

    import pytest

    from pruneinterp import stages
    from pruneinterp.cli import main

    d = tmp_path / "d"
    assert main(["make-data", "--out", str(d), "--n-train", "64", "--n-val", "32", "--n-probe", "12"]) == 0
    small, big = tmp_path / "m4", tmp_path / "m8"
    for out, width in ((small, 4), (big, 8)):
        assert main(["train", "--train", str(d / "train.npz"), "--val", str(d / "val.npz"), "--out-dir", str(out),
                     "--model-kwargs", f'{{"width": {width}}}', "--train-config",
                     '{"epochs": 1, "batch_size": 16, "precision": "fp32"}']) == 0
        assert main(["prune", "--checkpoint", str(out / "checkpoint.pt"), "--out", str(out / "pruned.pt")]) == 0
    mixed = load_checkpoint(small / "pruned.pt")
    mixed["masks"] = load_checkpoint(big / "pruned.pt")["masks"]
    save_checkpoint(tmp_path / "mixed.pt", {k: v for k, v in mixed.items() if k != "format"})
    probe = tmp_path / "probe"
    shutil.copytree(d / "probe", probe)
    capsys.readouterr()
    cases = [
        (["retrain", "--pruned", str(tmp_path / "mixed.pt"), "--strategy", "finetune_sgd", "--train",
          str(d / "train.npz"), "--val", str(d / "val.npz"), "--out-dir", str(tmp_path / "r")],
         "mixed.pt: mask for 'features.conv1.conv.weight' has shape (8, 3, 3, 3)"),
        (["prune", "--checkpoint", str(tmp_path / "mixed.pt"), "--out", str(tmp_path / "p.pt")],
         "a mask of a different model"),
        (["train", "--train", str(d / "train.npz"), "--val", str(d / "val.npz"), "--out-dir", str(tmp_path / "q"),
          "--train-config", '{"epochs": "three"}'], "TrainConfig.epochs = 'three': must be an integer"),
        (["train", "--train", str(d / "train.npz"), "--val", str(d / "val.npz"), "--out-dir", str(tmp_path / "q"),
          "--train-config", '{"epochs": 2'], "--train-config: not valid JSON"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert not any((tmp_path / name).exists() for name in ("r", "p.pt", "q"))  # nothing written
    (probe / "label.csv").write_text("number,nam\n1,x\n")
    with pytest.raises(Exception, match=r"label.csv: missing columns name, category"):
        stages.Probe(probe)
    shutil.copy(d / "probe" / "label.csv", probe / "label.csv")
    (probe / "targets.csv").write_text("image,clas\n0,1\n")
    with pytest.raises(Exception, match=r"targets.csv: missing column target"):
        stages.Probe(probe)
    capsys.readouterr()
    if os.geteuid() != 0:  # root writes anywhere: a read-only directory stops only a normal user
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        assert main(["prune", "--checkpoint", str(small / "checkpoint.pt"), "--out", str(locked / "p.pt")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Permission denied" in err and str(locked) in err
    import tempfile

    def full(*_a, dir=None, **_k):  # a full disk, as the kernel reports it
        raise OSError(28, "No space left on device", dir)

    real = tempfile.mkstemp
    tempfile.mkstemp = full
    try:
        assert main(["prune", "--checkpoint", str(small / "checkpoint.pt"), "--out", str(tmp_path / "f" / "p.pt")]) == 2
    finally:
        tempfile.mkstemp = real
    err = capsys.readouterr().err.strip()
    assert err == f"pruneinterp prune: error: {tmp_path / 'f'}: No space left on device", err
    assert not (tmp_path / "f" / "p.pt").exists()


def test_the_imagefolder_index_depends_on_the_tree(tmp_path):
    """Adding, removing or renaming an image changes the trees' signature, a param of the index rule,
    so Snakemake re-indexes; the signature does not depend on where the tree is or when it is read."""
    import os
    import shutil

    from pruneinterp.io import tree_signature

    root = tmp_path / "train"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / "1.jpg").write_bytes(b"x")
    first = tree_signature(root)
    assert tree_signature(root) == first
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, copy_function=shutil.copy2)
    for d in (copy, copy / "a", copy / "b"):  # same shape and times elsewhere: same signature
        st = os.stat(root / d.relative_to(copy))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tree_signature(copy) == first
    changes = []
    for change in (lambda: (root / "b" / "2.jpg").write_bytes(b"y"), lambda: (root / "a" / "1.jpg").unlink(),
                   lambda: (root / "b" / "2.jpg").rename(root / "b" / "3.jpg"), lambda: (root / "c").mkdir()):
        for d in (root, root / "a", root / "b"):  # an hour ago: the change's own mtime update must show
            os.utime(d, ns=(0, os.stat(d).st_mtime_ns - 3_600_000_000_000))
        before = tree_signature(root)
        change()
        changes.append(tree_signature(root) != before)
    assert changes == [True] * 4
    (root / "a" / "4.jpg").write_bytes(b"z")
    settled = tree_signature(root)
    (root / "a" / "4.jpg").write_bytes(b"rewritten in place")  # documented: not noticed
    assert tree_signature(root) == settled


def test_every_stage_writes_the_same_bytes_when_run_again(tmp_path, monkeypatch):
    """Same inputs, seed and machine: every .pt, .h5 and .csv of a stage chain (data, training,
    pruning, retraining, extraction, dissection, MIS, similarity) is byte-identical in a second
    directory (relative paths, as the workflow uses them)."""
    from pruneinterp.cli import main

    def chain() -> None:
        steps = [
            ["make-data", "--out", "d", "--n-train", "96", "--n-val", "32", "--n-probe", "40"],
            ["train", "--train", "d/train.npz", "--val", "d/val.npz", "--out-dir", "dense", "--model", "resnet",
             "--model-kwargs", '{"widths": [4, 8, 8, 8]}', "--train-config",
             '{"epochs": 2, "batch_size": 32, "precision": "bf16"}', "--rewind-iteration", "2"],
            ["prune", "--checkpoint", "dense/checkpoint.pt", "--out", "pruned.pt", "--fraction", "0.5"],
            ["retrain", "--pruned", "pruned.pt", "--strategy", "rewind", "--rewind", "dense/rewind.pt", "--train",
             "d/train.npz", "--val", "d/val.npz", "--out-dir", "level1", "--train-config",
             '{"epochs": 2, "batch_size": 32, "precision": "bf16"}'],
            ["extract", "--checkpoint", "level1/checkpoint.pt", "--probe", "d/probe", "--out", "a.h5",
             "--layer", "layer3", "--layer", "layer4", "--layer", "fc"],
            ["extract", "--checkpoint", "dense/checkpoint.pt", "--probe", "d/probe", "--out", "b.h5",
             "--layer", "layer3", "--layer", "layer4", "--layer", "fc"],
            ["dissect", "--activations", "a.h5", "--probe", "d/probe", "--out", "units.csv", "--layer", "layer4",
             "--iou-out", "iou.h5", "--bootstrap-out", "boot.csv", "--bootstrap-replicates", "5"],
            ["mis", "--activations", "a.h5", "--probe", "d/probe", "--out", "mis.csv", "--n-tasks", "2", "--k", "2",
             "--tasks-out", "tasks.csv"],
            ["similarity", "--a", "a.h5", "--b", "b.h5", "--out", "sim.csv"],
        ]
        for argv in steps:
            assert main(argv) == 0, argv

    files = {}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        chain()
        files[name] = {p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*")
                       if p.is_file() and p.suffix in (".pt", ".h5", ".csv", ".npz", ".png")}
    assert sorted(files["one"]) == sorted(files["two"]) and len(files["one"]) > 20
    differ = [str(k) for k in files["one"] if files["one"][k] != files["two"][k]]
    assert differ == [], differ


def test_probe_paths_stay_inside_the_probe_directory(tmp_path):
    """index.csv cells are paths under images/: an absolute path or '..' is refused (naming the
    file and the path) before anything is read from it."""
    import pandas as pd
    import pytest

    from pruneinterp.cli import main
    from pruneinterp.data.broden import Probe
    from pruneinterp.io import InputError

    assert main(["make-probe", "--out", str(tmp_path / "p"), "--n", "3"]) == 0
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    index = pd.read_csv(tmp_path / "p/index.csv", dtype=str, keep_default_na=False)
    for bad in (str(secret), "../../secret.png", "shapes/../../../secret.png"):
        for column in ("image", "color"):
            edited = index.copy()
            edited.loc[1, column] = bad
            edited.to_csv(tmp_path / "p/index.csv", index=False)
            probe = Probe(tmp_path / "p")
            with pytest.raises(InputError, match=r"index.csv: path .* leaves the probe directory"):
                probe.images([0, 1]) if column == "image" else probe.label_entries([0, 1])
    index.to_csv(tmp_path / "p/index.csv", index=False)
    assert Probe(tmp_path / "p").images([0, 1, 2]).shape == (3, 32, 32, 3)


@pytest.mark.parametrize("backend, files", [("dreamsim", "DREAMSIM_FILES"), ("lpips", "LPIPS_FILES")])
def test_perceptual_backends_never_download(tmp_path, monkeypatch, backend, files):
    """DreamSim and LPIPS download whatever weights are missing. Here: without every file the error
    names the directory and the missing files and the library's loader is never called; with them,
    the loader gets the local paths, and no socket is opened (connect raises)."""
    import socket
    import sys
    import types

    from pruneinterp import mis

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    calls = []
    fake = types.ModuleType(backend)
    if backend == "dreamsim":
        def dreamsim(**kwargs):
            calls.append(kwargs)
            return object(), (lambda img: img)
        fake.dreamsim = dreamsim
    else:
        class LPIPS:
            def __init__(self, **kwargs):
                import os

                calls.append({**kwargs, "TORCH_HOME": os.environ.get("TORCH_HOME")})

            def to(self, device):  # the backend moves the network to the stage's device
                calls[-1]["device"] = str(device)
                return self

            def eval(self):
                return self
        fake.LPIPS = LPIPS
    monkeypatch.setitem(sys.modules, backend, fake)
    weights = tmp_path / "w"
    weights.mkdir()
    required = getattr(mis, files)
    with pytest.raises(ValueError) as err:
        mis.load_backend(backend, str(weights))
    assert str(weights) in str(err.value) and all(f in str(err.value) for f in required) and calls == []
    for f in required:
        (weights / f).parent.mkdir(parents=True, exist_ok=True)
        (weights / f).mkdir() if f.endswith("_lora") else (weights / f).write_bytes(b"w")
    mis.load_backend(backend, str(weights))
    assert len(calls) == 1
    if backend == "dreamsim":
        assert calls[0]["cache_dir"] == str(weights) and calls[0]["pretrained"] is True
        assert calls[0]["device"] == "cpu"
    else:
        assert calls[0]["model_path"] == str(weights / "alex.pth") and calls[0]["pnet_rand"] is False
        assert calls[0]["TORCH_HOME"] == str(weights)  # torchvision's AlexNet weights come from here
        assert calls[0]["device"] == "cpu"
