"""Glue for the thin Snakemake scripts: logging to the rule's log file, threads."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import traceback
from typing import Any, Iterator


@contextlib.contextmanager
def job(smk: Any) -> Iterator[None]:
    """Send stdout/stderr of the job to its log file, set torch's threads, and log timing."""
    log_path = smk.log[0] if len(smk.log) else None
    stream = open(log_path, "w") if log_path else sys.stderr
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True)
    try:
        import torch

        torch.set_num_threads(max(1, int(smk.threads)))
        start = time.time()
        print(f"rule {smk.rule}: wildcards={dict(smk.wildcards)} threads={smk.threads}", flush=True)
        try:
            yield
        except BaseException:
            traceback.print_exc(file=stream)  # the job's log says why it failed
            raise
        print(f"done in {time.time() - start:.1f} s", flush=True)
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        if log_path:
            stream.close()
