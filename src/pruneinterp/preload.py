"""Job start-up without the imports: a local fork server that has torch and the library imported.

About half of a small job's time is Python importing torch, pandas and h5py (~1.7 s on a 2-core
CPU), repeated in each of the default run's ~550 jobs. Here a job's script, run by Snakemake as a
new Python process, first calls :func:`delegate`: when a preload server for *this* code and this
Python is running on the machine, the script is sent to it, the server forks a child that already
has every module imported, the child runs the script with the job's own working directory,
environment, standard streams (passed as file descriptors) and ``snakemake`` object, and the job's
process exits with the child's status. Everything the job computes is computed the same way as
without the server: the child is a copy of a process that imported the modules and did nothing
else (no random number drawn, no thread pool started: the server checks it runs a single thread
before it forks).

* The first job of a run finds no server: it starts one in the background and runs the script
  itself, so no job waits for the server. A server serves one code state: its socket is named
  after the Python executable and a signature (path, size, mtime) of every module of the package,
  so an edited library gets a new server and the old one, idle, exits after :data:`IDLE_SECONDS`.
* Signals: SIGTERM / SIGINT / SIGHUP sent to the job's process (Snakemake, ``scancel``) are passed
  on to the child, which then cleans up as usual (``workflow.job``: exit 143, no temporaries). If
  the job's process dies without a word (SIGKILL), the child notices its connection close and
  terminates itself the same way.
* Off where it cannot help or could surprise: inside a SLURM job (``SLURM_JOB_ID``: every job is
  on a fresh allocation), for jobs with more than one thread (the server's BLAS is pinned to one
  thread before numpy loads), when ``PRUNEINTERP_PRELOAD=0``, and on systems without ``fork`` or
  Unix sockets. Any failure to reach a server before the job started means the job runs in its own
  process, as before.
* Snakemake's ``benchmark`` files time the job correctly (``s``), but measure CPU and memory of
  the job's own process, which only waits; the child writes its CPU time and peak memory to the
  job's log (``workflow.job``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import socket
import struct
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ENV_SWITCH = "PRUNEINTERP_PRELOAD"  # "0": every job imports for itself
# PRUNEINTERP_PRELOAD_DIR: where the sockets are (default: a per-user directory in the temp dir)
IN_CHILD = "PRUNEINTERP_PRELOADED"  # set in a server's child: delegate() is a no-op there
IDLE_SECONDS = 120.0  # a server with no new job for this long exits
PRELOAD = (  # what the workflow's jobs import; kept to modules that start no thread at import
    "numpy", "pandas", "h5py", "torch", "scipy.stats", "scipy.linalg", "yaml",
    "snakemake.script",
    "pruneinterp.io", "pruneinterp.workflow", "pruneinterp.models", "pruneinterp.pruning",
    "pruneinterp.training", "pruneinterp.retraining", "pruneinterp.activations", "pruneinterp.dissection",
    "pruneinterp.mis", "pruneinterp.similarity", "pruneinterp.effective", "pruneinterp.stages",
    "pruneinterp.tables", "pruneinterp.data.shapes", "pruneinterp.data.broden",
    "matplotlib", "matplotlib.pyplot", "seaborn", "pruneinterp.figures.frankle_bau",
    "pruneinterp.figures.von_rad_seuffert", "pruneinterp.figures.blakeney", "pruneinterp.figures.comparisons",
)
_HEADER = struct.Struct("!Q")  # message length
_STATUS = struct.Struct("!i")  # child's pid, then its exit status


def enabled(threads: int = 1) -> bool:
    """Whether a job with ``threads`` threads may be delegated here."""
    return (os.environ.get(ENV_SWITCH, "1") != "0" and IN_CHILD not in os.environ
            and "SLURM_JOB_ID" not in os.environ and threads <= 1
            and hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds"))


def code_signature() -> str:
    """Hash of the Python executable and of every module file of the package (path, size, mtime)."""
    h = hashlib.sha256(sys.executable.encode())
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def socket_path() -> Path:
    """The server's socket for this code: in a per-user directory only its owner can enter."""
    d = Path(os.environ.get("PRUNEINTERP_PRELOAD_DIR")
             or Path(tempfile.gettempdir()) / f"pruneinterp-preload-{os.getuid()}")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = d.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(f"{d} must belong to uid {os.getuid()} with mode 0700")
    return d / f"{code_signature()}.sock"


# ---- the job's side ---------------------------------------------------------------------------


def delegate(smk: Any, script: str) -> None:
    """Run the calling workflow script (``script``, its ``__file__``) in a preload server, and exit
    with its status; return at once (and run it here) when no server can take it."""
    try:
        threads = int(smk.threads)
    except (AttributeError, TypeError, ValueError):
        threads = 1
    if not enabled(threads):
        return
    try:
        path = socket_path()
    except OSError:
        return
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        _start_server(path)  # for the next jobs; this one runs here
        return
    request = pickle.dumps({"smk": smk, "script": os.path.abspath(script), "cwd": os.getcwd(),
                            "env": dict(os.environ), "path": list(sys.path), "argv": list(sys.argv)})
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        socket.send_fds(conn, [_HEADER.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        pid = _STATUS.unpack(_recv_exact(conn, _STATUS.size))[0]
    except (OSError, EOFError):
        conn.close()  # the server died before the job started: run it here
        return
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: _kill(pid, s))
    try:
        status = _STATUS.unpack(_recv_exact(conn, _STATUS.size))[0]
    except (OSError, EOFError):  # the child died without reporting (SIGKILL, out of memory)
        sys.stderr.write(f"pruneinterp: the job's process {pid} in the preload server died\n")
        status = 137
    os._exit(status)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def _start_server(path: Path) -> None:
    import subprocess

    log = open(path.with_suffix(".log"), "ab")
    try:
        subprocess.Popen([sys.executable, "-m", "pruneinterp.preload", str(path)], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True, close_fds=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                              "OPENBLAS_NUM_THREADS": "1"})
    except OSError:
        pass
    finally:
        log.close()


# ---- the server's side ------------------------------------------------------------------------


def _threads_running() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def serve(path: str | os.PathLike[str], idle: float = IDLE_SECONDS) -> int:
    """Import :data:`PRELOAD`, then fork a child for every job that connects to ``path``; exit after
    ``idle`` seconds without a new job (or at once if another server already listens there)."""
    import fcntl
    import importlib

    path = Path(path)
    lock = open(path.with_suffix(".lock"), "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another server for this code is starting or running
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    signal.signal(signal.SIGTERM, lambda s, _f: sys.exit(128 + s))  # so that the socket is removed
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in PRELOAD:
        importlib.import_module(name)
    if _threads_running() != 1:  # fork would copy a process whose other threads vanish in the child
        sys.stderr.write(f"pruneinterp preload: {_threads_running()} threads after the imports; not serving\n")
        return 1
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    listener.settimeout(idle)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                break
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                try:
                    listener.close()
                    _child(conn)
                finally:  # whatever escapes, the child never returns into this loop
                    os._exit(1)
            conn.close()
    finally:
        listener.close()
        path.unlink(missing_ok=True)
    return 0


def _child(conn: socket.socket) -> None:
    """Run one job: the request's streams, directory, environment and script, then report."""
    import runpy
    import traceback

    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # until the job sets its own (workflow.job)
        head, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, 3)
        request = pickle.loads(_recv_exact(conn, _HEADER.unpack(head)[0]))
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[IN_CHILD] = "1"
        sys.path[:] = request["path"]
        sys.argv[:] = request["argv"]
        conn.sendall(_STATUS.pack(os.getpid()))
        threading.Thread(target=_watch, args=(conn,), daemon=True).start()
        try:
            runpy.run_path(request["script"], init_globals={"snakemake": request["smk"]}, run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the job is over: nothing left to clean up
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            conn.sendall(_STATUS.pack(code))
        except (OSError, ValueError):
            pass
        os._exit(code)


def _watch(conn: socket.socket) -> None:
    """In a child: when the job's process goes away (its end of the connection closes), stop the job
    as SIGTERM would."""
    try:
        while conn.recv(1):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
