"""Progress of long loops (training, dissection, MIS): a tqdm bar on an interactive terminal, and
in a job's log (not a terminal) a plain line now and then with the elapsed time and an ETA.

Progress only writes to the standard streams: it changes no output file and draws no random number.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class Progress:
    """Counts ``total`` steps of ``desc``. :meth:`update` advances; :meth:`line` writes a line (e.g.
    an epoch's metrics) with the ETA appended. Lines go to ``stream`` (default stdout) at most every
    ``interval`` seconds from :meth:`update`, and always from :meth:`line` and at the end; on a
    terminal a tqdm bar replaces the periodic lines."""

    def __init__(self, total: int, desc: str, unit: str = "it", interval: float = 30.0,
                 stream: TextIO | None = None, bar: bool | None = None) -> None:
        self.total, self.desc, self.unit, self.interval = max(0, int(total)), desc, unit, interval
        self.stream = stream or sys.stdout
        self.done = 0
        self.start = self._last = time.monotonic()
        self.info: dict[str, Any] = {}
        self._bar = None
        if bar is None:
            bar = bool(getattr(self.stream, "isatty", lambda: False)())
        if bar and self.total:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=self.stream, leave=False,
                                 dynamic_ncols=True)

    def eta(self) -> float | None:
        """Seconds left at the mean rate so far, or None before the first step."""
        if not self.done:
            return None
        return (time.monotonic() - self.start) / self.done * (self.total - self.done)

    def _status(self) -> str:
        elapsed = time.monotonic() - self.start
        eta = self.eta()
        pct = 100.0 * self.done / self.total if self.total else 100.0
        text = f"{self.desc}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), {_duration(elapsed)}"
        if eta is not None and self.done < self.total:
            text += f", ETA {_duration(eta)}"
        if self.info:
            text += ", " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in self.info.items())
        return text

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)
        self._last = time.monotonic()

    def update(self, n: int = 1, **info: Any) -> None:
        self.done += n
        self.info.update(info)
        if self._bar is not None:
            self._bar.update(n)
            if info:
                self._bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in self.info.items()},
                                      refresh=False)
        elif time.monotonic() - self._last >= self.interval and self.done < self.total:
            self._write(self._status())

    def line(self, text: str) -> None:
        """``text``, then the position and ETA: e.g. an epoch's losses."""
        self._write(f"{text} [{self._status()}]")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._write(self._status())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        elif self._bar is not None:
            self._bar.close()
