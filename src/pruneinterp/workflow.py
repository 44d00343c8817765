"""Glue for the thin Snakemake scripts: logging to the rule's log file, threads."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from typing import Any, Iterator


@contextlib.contextmanager
def job(smk: Any) -> Iterator[None]:
    """Send stdout/stderr of the job to its log file, set the threads of torch and BLAS, remove the
    temporaries a killed earlier attempt left beside the job's outputs, turn SIGTERM into a clean
    exit (temporaries removed, status 143), and log timing."""
    log_path = smk.log[0] if len(smk.log) else None
    stream = open(log_path, "w") if log_path else sys.stderr
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True)
    try:
        threads = torch_threads(smk)
        if "torch" in sys.modules:  # already initialised: set its pool directly
            sys.modules["torch"].set_num_threads(threads)
        else:  # read by torch (and numpy's BLAS) when a stage imports them: jobs that never need torch skip it
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                os.environ[var] = str(threads)
        start = time.time()
        where = f" slurm_job={os.environ['SLURM_JOB_ID']}" if os.environ.get("SLURM_JOB_ID") else ""
        print(f"rule {smk.rule}: wildcards={dict(smk.wildcards)} threads={smk.threads}"
              f"{f' torch_threads={threads}' if threads != smk.threads else ''}{where}", flush=True)
        from .io import exit_on_sigterm, sweep_temporaries

        exit_on_sigterm()
        for stale in sweep_temporaries(list(smk.output)):
            print(f"removed {stale}, left by an earlier attempt that was killed", flush=True)
        try:
            yield
        except BaseException as exc:
            from .io import InputError, one_line

            if isinstance(exc, (InputError, OSError)):  # bad input, no permission, disk full: one line
                print(f"error: {one_line(exc)}", file=stream, flush=True)
            else:
                traceback.print_exc(file=stream)  # an unexpected failure: the whole story
            raise
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)  # this process's own (a preloaded job's too)
        print(f"done in {time.time() - start:.1f} s (CPU {usage.ru_utime + usage.ru_stime:.1f} s, "
              f"peak memory {usage.ru_maxrss / 1024:.0f} MiB{', preloaded' if os.environ.get('PRUNEINTERP_PRELOADED') else ''})",
              flush=True)
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        if log_path:
            stream.close()


def torch_threads(smk: Any) -> int:
    """Torch's threads in a job: the rule's ``torch_threads`` resource where it has one (training
    rules: ``train.threads``, while the job's threads also count its DataLoader workers and
    processes; :mod:`pruneinterp.resources`), else the job's threads; never more than the job got
    (Snakemake lowers a rule's threads to ``--cores``)."""
    threads = max(1, int(smk.threads))
    try:
        wanted = smk.resources.get("torch_threads")
    except AttributeError:
        wanted = None
    return threads if wanted is None else max(1, min(threads, int(wanted)))


def launch_options(smk: Any) -> dict[str, int]:
    """``processes`` and ``threads`` of :func:`pruneinterp.launch.run_stage` for a training job: the
    rule's ``processes`` param (present when more than 1) and torch's threads per process."""
    try:
        processes = int(smk.params.get("processes", 1))
    except AttributeError:
        processes = 1
    return {"processes": processes, "threads": torch_threads(smk)}


def provenance(out: str, repo: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """What produced a run's results: the commit of ``repo`` (and whether its tracked files differed
    from it), the CPU and its vector extensions (``train.precision: auto`` trains in bf16 only where
    oneDNN has bf16 kernels: AVX-512 and up), the core count, the GPUs (``nvidia-smi``; none here), the versions that
    decide the numbers, and the resolved config. No timestamps, so the file is identical for the same
    commit, config and machine. Written as JSON to ``out``."""
    import json
    import platform
    import subprocess
    from importlib import metadata

    from .io import atomic_path

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    cpu = platform.processor() or platform.machine()
    isa: list[str] = []
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
        flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
        # the vector extensions that decide speed and rounding (oneDNN's bf16 kernels need AVX-512)
        isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    except OSError:
        pass
    status = git("status", "--porcelain", "--untracked-files=no")
    versions = {}
    for package in ("pruneinterp", "torch", "torchvision", "numpy", "scipy", "pandas", "h5py", "snakemake"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
        gpus = [line.strip() for line in smi.stdout.splitlines() if line.strip()] if smi.returncode == 0 else []
    except (OSError, subprocess.SubprocessError):
        gpus = []
    info = {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": None if status is None else bool(status),
            "cpu": cpu, "cpu_isa": isa, "cores": os.cpu_count(), "gpus": gpus, "machine": platform.machine(),
            "system": platform.system(), "python": platform.python_version(), "versions": versions,
            "config": config}
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(info, indent=2, sort_keys=False, default=str) + "\n")
    return info


def planned_rules(dry_run_output: str) -> dict[str, int]:
    """Rule -> job count from the "Job stats" table of a Snakemake dry run's output ({} when
    nothing is to be done)."""
    import re

    if "Job stats:" not in dry_run_output:
        return {}
    counts = {}
    for line in dry_run_output.split("Job stats:", 1)[1].splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts
