"""Run a training stage in one process, or in several under torchrun (DistributedDataParallel).

The training rules' scripts call :func:`run_stage` with the stage's keyword arguments. With one
process the stage runs right there. With more (``resources.gpus`` > 1, or ``resources.processes``
> 1 on a CPU) the call is written to a JSON file and the job's process runs::

    python -m torch.distributed.run --standalone --nproc-per-node N -m pruneinterp.launch CALL.json

(``torchrun``'s own module, so the job's Python is used whatever ``PATH`` says). Each process joins
the group (:func:`pruneinterp.training.init_distributed`: NCCL with one GPU per ``LOCAL_RANK``,
gloo on a CPU), sets its torch threads, and calls the same stage function with the same arguments;
the stages write their files from rank 0 only. Every process reports what it wrote
(``rank 0/2 wrote: ...``, ``rank 1/2 wrote: nothing``) to the job's log, where torchrun's output
goes. ``--standalone`` gives each job its own rendezvous on a free local port, so several
multi-process jobs can share a node.

SIGTERM (``scancel``, walltime) reaches the job's process, which passes it to torchrun; torchrun
stops the ranks, each of which exits as a single-process job would (temporaries removed, status
143).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

# the stage functions a launch may run (pruneinterp.stages); all of them train
STAGES = ("train_dense", "retrain")
TERMINATE_WAIT_S = 60.0  # how long torchrun may take to stop its ranks after SIGTERM before SIGKILL


def torchrun_command(call_file: str | os.PathLike[str], processes: int) -> list[str]:
    """The command that runs the call in ``call_file`` in ``processes`` processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
            "-m", "pruneinterp.launch", str(call_file)]


def run_stage(stage: str, kwargs: dict[str, Any], processes: int = 1, threads: int = 1) -> None:
    """Run ``pruneinterp.stages.<stage>(**kwargs)``: here when ``processes`` is 1, else in
    ``processes`` torchrun processes with ``threads`` torch threads each. Raises
    ``RuntimeError`` naming the exit status when the processes fail (their tracebacks are in the
    job's log)."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r} cannot be launched; allowed: {', '.join(STAGES)}")
    if processes <= 1:
        from . import stages

        getattr(stages, stage)(**kwargs)
        return
    fd, call_file = tempfile.mkstemp(prefix="pruneinterp-launch-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"stage": stage, "kwargs": kwargs, "threads": int(threads)}, f)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
               "OPENBLAS_NUM_THREADS": str(threads)}
        sys.stdout.flush()
        sys.stderr.flush()
        print(f"launching {stage} in {processes} processes: {' '.join(torchrun_command(call_file, processes))}",
              flush=True)
        status = _run(torchrun_command(call_file, processes), env)
    finally:
        Path(call_file).unlink(missing_ok=True)
    if status != 0:
        raise RuntimeError(f"{stage} in {processes} torchrun processes failed with exit status {status} "
                           f"(the ranks' output is above)")


def _stream(stream: Any) -> Any:
    """A file the child can inherit for ``stream`` (the job's log while :func:`workflow.job` runs)."""
    try:
        stream.fileno()
        return stream
    except (AttributeError, OSError, ValueError):
        return None


def _run(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` with the job's log as its output; pass SIGTERM / SIGINT on and wait for it."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=_stream(sys.stdout),
                            stderr=_stream(sys.stderr))
    try:
        return proc.wait()
    except BaseException:  # SystemExit(143) from workflow.job's SIGTERM handler, KeyboardInterrupt
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # torchrun stops its ranks, which clean up
            try:
                proc.wait(TERMINATE_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise


# ---- inside each torchrun process -------------------------------------------------------------------


def worker(call_file: str) -> int:
    """One rank: join the process group, run the stage, report what this rank wrote."""
    import torch

    from . import io, stages
    from .training import init_distributed

    with open(call_file) as f:
        call = json.load(f)
    io.exit_on_sigterm()
    torch.set_num_threads(max(1, int(call.get("threads", 1))))
    kwargs = call["kwargs"]
    init_distributed(kwargs.get("device", "cpu"))
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    written: list[str] = []
    io.on_written.append(written.append)
    try:
        getattr(stages, call["stage"])(**kwargs)
    finally:
        io.on_written.remove(written.append)
    print(f"rank {rank}/{world} wrote: {', '.join(written) or 'nothing'}", flush=True)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m pruneinterp.launch CALL.json (under torchrun)", file=sys.stderr)
        return 2
    return worker(args[0])


if __name__ == "__main__":
    sys.exit(main())
