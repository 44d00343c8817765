"""Training jobs in several processes (pruneinterp.launch): the workflow's training rules under
torchrun with ``resources.processes: 2`` on a CPU (gloo), as they run with ``resources.gpus: 2``
on GPUs (NCCL)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch
import yaml

from pruneinterp import launch

REPO = Path(__file__).resolve().parents[1]
DENSE = "results/dense/resnet-w4/seed0"
ONESHOT = "results/von_rad_seuffert/resnet-w4/seed0/magnitude_global/oneshot"
RUN = f"{ONESHOT}/finetune_sgd/level1"


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """config/test.yaml with resources.processes: 2: a dense network and a one-shot fine-tuned one."""
    from workflow_fixture import copy_workflow

    wd = copy_workflow(tmp_path_factory.mktemp("ddp"))
    (wd / "config/ddp.yaml").write_text(yaml.safe_dump({"resources": {"processes": 2}}))
    proc = subprocess.run([sys.executable, "-m", "snakemake", f"{DENSE}/checkpoint.pt", f"{RUN}/checkpoint.pt",
                           "--cores", "2", "--configfile", "config/test.yaml", "config/ddp.yaml"],
                          cwd=wd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0:  # the failed jobs' own logs hold the ranks' tracebacks
        logs = "".join(f"\n--- {log}\n{log.read_text()[-3000:]}" for log in (wd / "logs").rglob("*.log")
                       if "rror" in log.read_text())
        raise AssertionError(proc.stderr[-3000:] + logs)
    return wd


@pytest.mark.parametrize("log, files", [
    (f"logs/dense/resnet-w4/seed0.log", ["init.pt", "rewind.pt", "checkpoint.pt", "metrics.csv"]),
    (f"logs/{RUN.removeprefix('results/')}/retrain.log", ["checkpoint.pt", "metrics.csv"]),
])
def test_training_rules_run_two_torchrun_processes_and_rank_0_writes_once(two_process_run, log, files):
    text = (two_process_run / log).read_text()
    assert "threads=2 torch_threads=1" in text  # the job has a core per process, torch one thread each
    assert "launching" in text and "torch.distributed.run --standalone --nproc-per-node=2" in text
    reports = [line for line in text.splitlines() if line.startswith("rank ")]
    assert sorted(r.split(" wrote: ")[0] for r in reports) == ["rank 0/2", "rank 1/2"], reports
    assert "rank 1/2 wrote: nothing" in reports
    written = [p.strip() for r in reports if r.startswith("rank 0/2") for p in r.split(" wrote: ")[1].split(",")]
    out_dir = DENSE if "dense" in log else RUN
    for name in files:  # each output once, by rank 0
        assert written.count(f"{out_dir}/{name}") == 1, written
    assert not list((two_process_run / out_dir).glob(".*.tmp"))


def test_two_process_checkpoints_are_valid_and_the_mask_holds(two_process_run):
    from pruneinterp.stages import load_checkpoint

    wd = two_process_run
    dense = load_checkpoint(wd / DENSE / "checkpoint.pt")
    pruned = load_checkpoint(wd / ONESHOT / "level1/pruned.pt")
    tuned = load_checkpoint(wd / RUN / "checkpoint.pt")
    assert tuned["masks"] and set(tuned["masks"]) == set(pruned["masks"])
    removed = kept = 0
    for name, mask in tuned["masks"].items():
        weight = tuned["state_dict"][name]
        assert (weight[~mask.bool()] == 0).all(), name  # pruned weights stay zero through DDP fine-tuning
        removed += int((~mask.bool()).sum())
        kept += int(mask.bool().sum())
    assert removed / (removed + kept) == pytest.approx(0.36, abs=0.01)  # the level-1 target of config/test.yaml
    changed = [k for k in tuned["masks"] if not torch.equal(tuned["state_dict"][k], pruned["state_dict"][k])]
    assert changed  # it trained
    for ckpt in (dense, tuned):
        assert all(torch.isfinite(v.float()).all() for v in ckpt["state_dict"].values())
    metrics = pd.read_csv(wd / RUN / "metrics.csv")
    assert not metrics.duplicated(["epoch", "split"]).any()
    epochs = yaml.safe_load((wd / "config/test.yaml").read_text())["finetune"]["epochs"]
    assert sorted(metrics[metrics["split"] == "val"]["epoch"]) == list(range(epochs + 1))
    dense_metrics = pd.read_csv(wd / DENSE / "metrics.csv")
    assert not dense_metrics.duplicated(["epoch", "split"]).any() and dense_metrics["top1"].between(0, 1).all()


def test_launch_failure_in_the_ranks_is_an_error_naming_the_status(tmp_path, capfd):
    with pytest.raises(RuntimeError, match=r"retrain in 2 torchrun processes failed with exit status [1-9]"):
        launch.run_stage("retrain", dict(pruned_path=str(tmp_path / "missing.pt"), train_path="t", val_path="v",
                                         out={"checkpoint": str(tmp_path / "c.pt"), "metrics": str(tmp_path / "m.csv")},
                                         strategy="finetune_sgd", train_cfg={}, seed=0, ident={}),
                         processes=2, threads=1)
    assert "missing.pt" in capfd.readouterr().err  # the ranks' tracebacks reach the job's log
    assert not (tmp_path / "c.pt").exists()
    with pytest.raises(ValueError, match="allowed: train_dense, retrain"):
        launch.run_stage("dissect", {}, processes=2)


SIGTERM_SCRIPT = r"""
import sys
from pruneinterp import stages
from pruneinterp.io import exit_on_sigterm
from pruneinterp.launch import run_stage
d = sys.argv[1]
stages.make_data(d, 2048, 64, 4, 0)
exit_on_sigterm()  # as workflow.job does in a job
print("training", flush=True)
run_stage("train_dense", dict(train_path=f"{d}/train.npz", val_path=f"{d}/val.npz",
          out={k: f"{d}/dense/{k}.pt" for k in ("init", "rewind", "checkpoint")} | {"metrics": f"{d}/dense/metrics.csv"},
          model="resnet", train_cfg={"epochs": 50, "batch_size": 32, "precision": "fp32"}), processes=2, threads=1)
"""


def test_sigterm_stops_every_rank_and_leaves_no_output(tmp_path):
    """What scancel or the walltime does to a multi-process job: SIGTERM to the job's process reaches
    torchrun and the ranks; the job exits 143, no rank is left, nothing is written."""
    script = tmp_path / "job.py"
    script.write_text(SIGTERM_SCRIPT)
    log = open(tmp_path / "job.log", "w")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "d")], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    ranks: list[psutil.Process] = []
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if "epoch 1/50" in (tmp_path / "job.log").read_text():  # both ranks are training
            ranks = psutil.Process(proc.pid).children(recursive=True)
            break
        time.sleep(0.2)
    assert len(ranks) >= 3, (tmp_path / "job.log").read_text()[-2000:]  # torchrun and its 2 ranks
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(90) == 143
    log.close()
    gone, alive = psutil.wait_procs(ranks, timeout=30)
    assert not alive, alive
    assert not (tmp_path / "d/dense/checkpoint.pt").exists()
    assert not list((tmp_path / "d/dense").glob(".*.tmp"))
    assert "terminated by signal 15" in (tmp_path / "job.log").read_text()


RESUME_SCRIPT = r"""
import os, sys, time, torch
from torch import nn
torch.set_num_threads(1)
from pruneinterp.training import Normalizer, TrainConfig, init_distributed, train
init_distributed("cpu")
rank = torch.distributed.get_rank()
resume = sys.argv[1]
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 256, (64, 8, 8, 3), dtype=torch.uint8, generator=g)
y = torch.randint(0, 3, (64,), generator=g)
net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
def on_epoch(epoch, model):
    if epoch == 2 and rank == 0:
        time.sleep(3)  # rank 1 finishes first, while the state rank 0 saved after epoch 1 is still there
cfg = TrainConfig(epochs=2, batch_size=16, lr=0.1, precision="fp32", channels_last=False)
train(net, {"train": (x, y), "val": (x[:16], y[:16])}, cfg, 0, Normalizer.fit(x.numpy()), on_epoch=on_epoch,
      resume=resume)
if rank == 1:
    print("rank 1 done, resume state there:", os.path.exists(resume), flush=True)
torch.distributed.barrier()
if rank == 0:
    print("rank 0 done, resume state there:", os.path.exists(resume), flush=True)
"""


def test_only_rank_0_removes_the_resume_state(tmp_path):
    """Every rank used to remove the resume state at the end of training: a rank that found the file
    could lose the race to rank 0 and fail on the missing file (FileNotFoundError), failing the job.
    Rank 0 writes it, and rank 0 alone removes it."""
    script = tmp_path / "resume.py"
    script.write_text(RESUME_SCRIPT)
    resume = tmp_path / ".checkpoint.pt.resume"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), str(resume)], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "rank 1 done, resume state there: True" in proc.stdout  # rank 1 left it alone
    assert "rank 0 done, resume state there: False" in proc.stdout  # rank 0 removed it
