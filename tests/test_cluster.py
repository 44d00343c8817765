"""The workflow through SLURM (`make test-cluster`; marked `cluster`, so `make test` leaves it out).

Starts the single-node cluster of ``profiles/slurm/local-cluster.sh`` (which installs Debian's
slurm-wlm and munge where missing; root only), runs ``config/test.yaml`` reduced by
``config/test-cluster.yaml`` (one study, one seed, two levels: 23 SLURM jobs) through
``profiles/slurm``, cancels the dense training job with ``scancel`` while it runs, and checks that
every job ran as a SLURM job, that the cancelled job was submitted again (the profile's
``retries: 1``) and the run completed, that the jobs asked SLURM for what
:mod:`pruneinterp.resources` computes, and that every result table equals a local run's byte for
byte. Skipped, with the reason, only where SLURM cannot be installed or started.
"""

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from pruneinterp.settings import merge_config
from workflow_fixture import REPO, SNAKEMAKE, copy_workflow

pytestmark = pytest.mark.cluster

CONFIGS = ["config/test.yaml", "config/test-cluster.yaml"]
DENSE_LOG = "logs/dense/resnet-w4/seed0.log"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _sinfo() -> str | None:
    """The node states of partition debug, or None where SLURM does not answer."""
    try:
        proc = subprocess.run(["sinfo", "-h", "-p", "debug", "-o", "%T"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None


@pytest.fixture(scope="module")
def slurm():
    """A SLURM cluster with an idle node in partition debug: the one running, else this repository's
    local single-node cluster (installed and started as root)."""
    if _sinfo() is None:
        if os.geteuid() != 0:
            pytest.skip("no SLURM cluster answers, and starting one (profiles/slurm/local-cluster.sh) needs root")
        proc = subprocess.run(["bash", str(REPO / "profiles/slurm/local-cluster.sh")], capture_output=True,
                              text=True, timeout=900)
        if proc.returncode != 0:
            pytest.skip(f"SLURM could not be installed or started by profiles/slurm/local-cluster.sh "
                        f"(exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-500:]}")
    deadline = time.time() + 90
    state = _sinfo()
    while time.time() < deadline:
        state = _sinfo()
        if state and any(s in ("idle", "mixed", "allocated") for s in state.split()):
            return state
        if state and any(s.startswith(("down", "drain")) for s in state.split()):
            subprocess.run(["scontrol", "update", f"nodename={os.uname().nodename.split('.')[0]}", "state=resume"],
                           capture_output=True)
        time.sleep(2)
    pytest.skip(f"SLURM started but partition debug has no usable node (sinfo: {state!r})")


def _cancel_when_running(wd: Path, stop: threading.Event, cancelled: list[str]) -> None:
    """Cancel the dense training job once, as soon as its log shows it started inside SLURM."""
    log = wd / DENSE_LOG
    while not stop.is_set():
        try:
            m = re.search(r"slurm_job=(\d+)", log.read_text())
        except OSError:
            m = None
        if m:
            subprocess.run(["scancel", m.group(1)], check=True)
            cancelled.append(m.group(1))
            return
        time.sleep(0.1)


def _record_requests(stop: threading.Event, seen: dict[str, dict[str, str]]) -> None:
    """What each queued or running job asked SLURM for: comment (rule and wildcards), memory,
    time limit and CPUs, from squeue."""
    while not stop.is_set():
        proc = subprocess.run(["squeue", "-h", "-o", "%i|%k|%m|%l|%C"], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            job, comment, mem, limit, cpus = line.strip().split("|")
            seen[job] = {"comment": comment, "mem": mem, "limit": limit, "cpus": cpus}
        time.sleep(0.3)


def test_workflow_runs_through_slurm_survives_scancel_and_matches_a_local_run(slurm, tmp_path):
    local = copy_workflow(tmp_path / "local")
    start = time.time()
    proc = subprocess.run(SNAKEMAKE + ["--cores", "2", "--configfile", *CONFIGS], cwd=local, capture_output=True,
                          text=True, env=ENV)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    local_s = time.time() - start

    wd = copy_workflow(tmp_path / "slurm")
    stop, cancelled, seen = threading.Event(), [], {}
    watchers = [threading.Thread(target=_cancel_when_running, args=(wd, stop, cancelled), daemon=True),
                threading.Thread(target=_record_requests, args=(stop, seen), daemon=True)]
    for t in watchers:
        t.start()
    start = time.time()
    try:
        proc = subprocess.run(SNAKEMAKE + ["--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks",
                                           "2", "--slurm-keep-successful-logs", "--configfile", *CONFIGS],
                              cwd=wd, capture_output=True, text=True, env=ENV, timeout=1500)
    finally:
        stop.set()
        for t in watchers:
            t.join(10)
    slurm_s = time.time() - start
    out = proc.stdout + proc.stderr
    (tmp_path / "snakemake-slurm.out").write_text(out)
    print(f"\nlocal run {local_s:.0f} s, SLURM run {slurm_s:.0f} s (with one scancel and its retry)")
    assert proc.returncode == 0, out[-5000:]

    # every job but the local `all` was submitted to SLURM; the cancelled one twice
    planned = int(re.search(r"^total\s+(\d+)$", out, re.M).group(1))
    assert re.search(rf"^{planned} of {planned} steps \(100%\) done$", out, re.M), out[-2000:]
    submitted = re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.", out)
    slurm_ids = {sid for _, sid, _ in submitted}
    assert len({job for job, _, _ in submitted}) == planned - 1  # rule all runs in the head
    assert len(submitted) == planned  # planned - 1 jobs, one of them twice
    assert len(slurm_ids) == len(submitted)

    # the cancel: the dense training job, while it ran; SLURM says so in its log, and it ran again
    assert len(cancelled) == 1, "the dense training job was never seen running"
    first = cancelled[0]
    dense = [(job, sid, log) for job, sid, log in submitted if "/rule_train_dense/" in log]
    assert len(dense) == 2 and dense[0][1] == first, dense
    assert "CANCELLED" in Path(dense[0][2]).read_text()
    assert "Trying to restart job" in out
    second = dense[1][1]
    assert f"slurm_job={second}" in (wd / DENSE_LOG).read_text()

    # every job's own log was written inside a SLURM job that this run submitted
    logs = sorted((wd / "logs").rglob("*.log"))
    assert len(logs) == planned - 1
    for log in logs:
        m = re.search(r"slurm_job=(\d+)", log.read_text())
        assert m and m.group(1) in slurm_ids, log
    # and the SLURM log of every submission is there (--slurm-keep-successful-logs)
    for _, sid, path in submitted:
        assert Path(path).is_file() and Path(path).name == f"{sid}.log"

    # the jobs asked for what pruneinterp.resources computes (memory, walltime, CPUs)
    from pruneinterp.resources import Resources

    cfg = yaml.safe_load((wd / "config/config.yaml").read_text())
    for extra in CONFIGS:
        merge_config(cfg, yaml.safe_load((wd / extra).read_text()))
    want = Resources(_with_defaults(cfg)).training("resnet-w4")
    requests = [v for v in seen.values() if v["comment"].startswith("rule_train_dense")]
    assert requests, seen
    for r in requests:
        assert r["mem"] == f"{want.mem_mb}M" and r["cpus"] == str(want.threads), r
        assert r["limit"] == f"{want.runtime}:00", r  # minutes:seconds

    # the same tables, byte for byte, as the local run
    tables = sorted(p.relative_to(local) for p in (local / "results").rglob("*.csv"))
    assert len(tables) >= 20
    for table in tables:
        assert (wd / table).read_bytes() == (local / table).read_bytes(), table
    assert sorted(p.relative_to(wd) for p in (wd / "results").rglob("*.csv")) == tables



def _with_defaults(cfg: dict) -> dict:
    """The schema's defaults filled in, as the workflow validates the config."""
    from snakemake.utils import validate

    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return cfg
