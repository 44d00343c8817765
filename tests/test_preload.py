"""The preload server (pruneinterp.preload): a job delegated to it runs in a forked child with the
imports done, with the job's streams, directory and exit status, and stops when the job is stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pruneinterp import preload

# A workflow script as Snakemake runs it: `snakemake` comes from the preamble (here: made up), the
# first statement delegates, and the rest reports where it ran.
SCRIPT = '''
import json, os, sys, time, types
if "snakemake" not in globals():
    snakemake = types.SimpleNamespace(threads=int(os.environ.get("THREADS", "1")), output=[os.environ["OUT"]])
from pruneinterp.preload import delegate
delegate(snakemake, __file__)
torch_before = "torch" in sys.modules  # imported by the server before this job's statements ran
print("to stdout")
print("to stderr", file=sys.stderr)
mode = os.environ.get("MODE", "ok")
if mode == "sleep":
    from pruneinterp.io import exit_on_sigterm
    exit_on_sigterm()
    open(snakemake.output[0] + ".started", "w").write(str(os.getpid()))
    try:
        time.sleep(60)
    finally:
        open(snakemake.output[0] + ".cleaned", "w").write("yes")
if mode == "exit3":
    sys.exit(3)
if mode == "raise":
    raise RuntimeError("boom")
with open(snakemake.output[0], "w") as f:
    json.dump({"pid": os.getpid(), "torch_before": torch_before, "cwd": os.getcwd(),
               "preloaded": os.environ.get("PRUNEINTERP_PRELOADED") == "1", "var": os.environ.get("MYVAR")}, f)
'''


@pytest.fixture
def env(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    e = {k: v for k, v in os.environ.items() if k not in (preload.ENV_SWITCH, preload.IN_CHILD, "SLURM_JOB_ID")}
    e["PRUNEINTERP_PRELOAD_DIR"] = str(tmp_path / "sock")
    e["OUT"] = str(tmp_path / "out.json")
    return {"env": e, "script": script, "tmp": tmp_path}


def _run(ctx, **extra):
    """Run the job script as Snakemake would; the result also has the job process's ``pid``."""
    proc = subprocess.Popen([sys.executable, str(ctx["script"])], env={**ctx["env"], **extra}, cwd=ctx["tmp"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    result.pid = proc.pid
    return result


def _server_up(ctx, timeout=60.0):
    env = ctx["env"]
    sock_dir = Path(env["PRUNEINTERP_PRELOAD_DIR"])
    deadline = time.time() + timeout
    while time.time() < deadline:
        if list(sock_dir.glob("*.sock")):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def served(env):
    """A running server for this code, started the way the first job of a run starts it."""
    first = _run(env)
    assert first.returncode == 0, first.stderr
    assert not json.loads(Path(env["env"]["OUT"]).read_text())["preloaded"]  # nobody was serving yet
    assert _server_up(env), "the first job did not start a server"
    yield env
    for lock in Path(env["env"]["PRUNEINTERP_PRELOAD_DIR"]).glob("*.lock"):  # holds the server's pid
        try:
            os.kill(int(lock.read_text()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass


def test_a_job_runs_in_the_server_with_its_streams_directory_and_environment(served):
    proc = _run(served, MYVAR="seen")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(Path(served["env"]["OUT"]).read_text())
    assert out["preloaded"] and out["torch_before"]  # the imports were done before the job's code
    assert out["pid"] != proc.pid and out["var"] == "seen"  # another process, the job's environment
    assert Path(out["cwd"]) == served["tmp"]
    assert "to stdout" in proc.stdout and "to stderr" in proc.stderr  # the job's own streams


def test_exit_status_and_errors_come_back(served):
    assert _run(served, MODE="exit3").returncode == 3
    proc = _run(served, MODE="raise")
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr


def _start_sleeping_job(ctx):
    """A job that sleeps in the server; returns its process, its child's pid and its output path."""
    out = Path(ctx["env"]["OUT"])
    proc = subprocess.Popen([sys.executable, str(ctx["script"])], env={**ctx["env"], "MODE": "sleep"},
                            cwd=ctx["tmp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = Path(str(out) + ".started")
    deadline = time.time() + 30
    while not started.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert started.exists()
    return proc, int(started.read_text()), out


def test_sigterm_to_the_job_stops_the_child_cleanly(served):
    proc, child, out = _start_sleeping_job(served)
    assert child != proc.pid  # it runs in the server's child
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143  # exit_on_sigterm's status, passed back
    assert Path(str(out) + ".cleaned").exists()  # its finally block ran


def test_a_killed_job_takes_its_child_with_it(served):
    proc, child, out = _start_sleeping_job(served)
    proc.kill()  # SIGKILL: no chance to pass anything on
    proc.wait(timeout=30)
    deadline = time.time() + 30
    while Path(f"/proc/{child}").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    assert Path(str(out) + ".cleaned").exists()  # it stopped as SIGTERM stops a job


@pytest.mark.parametrize("extra", [{"PRUNEINTERP_PRELOAD": "0"}, {"SLURM_JOB_ID": "7"}, {"THREADS": "2"}])
def test_jobs_that_must_not_be_delegated_run_in_their_own_process(served, extra):
    proc = _run(served, **extra)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(Path(served["env"]["OUT"]).read_text())
    assert not out["preloaded"] and not out["torch_before"] and out["pid"] == proc.pid


def test_the_server_is_specific_to_the_code(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEINTERP_PRELOAD_DIR", str(tmp_path / "sock"))
    before = preload.socket_path()
    module = Path(preload.__file__)
    st = module.stat()
    try:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert preload.socket_path() != before  # an edited module: another server
    finally:
        os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert preload.socket_path() == before
