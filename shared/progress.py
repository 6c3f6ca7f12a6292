"""Progress of a long phase: a tqdm bar on a terminal, a line per ``every`` % elsewhere (logs,
CI, ``nohup``), so that no phase of more than a few seconds is silent."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["LineProgress", "progress"]


class LineProgress:
    """tqdm's ``update``/``set_postfix``/``close`` as plain lines: ``desc: 30% (3/10 unit)
    in 12 s``, one each time another ``every`` % is done, and one at the end; nothing for a
    phase that ends within ``quiet_s`` seconds."""

    quiet_s = 2.0

    def __init__(
        self, total: int, desc: str, unit: str = "it", every: int = 10, file: TextIO | None = None
    ) -> None:
        self.total, self.desc, self.unit, self.every = max(0, int(total)), desc, unit, every
        self.file = file if file is not None else sys.stderr
        self.n = 0
        self._shown = 0  # percent last printed
        self._postfix = ""
        self._start = time.perf_counter()
        self._closed = False
        self._printed = False

    def _line(self) -> str:
        pct = 100 * self.n // self.total if self.total else 100
        took = time.perf_counter() - self._start
        tail = f", {self._postfix}" if self._postfix else ""
        return f"{self.desc}: {pct}% ({self.n}/{self.total} {self.unit}) in {took:.0f} s{tail}"

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        pct = 100 * self.n // self.total if self.total else 100
        if pct >= self._shown + self.every and self.n < self.total:
            if time.perf_counter() - self._start < self.quiet_s:
                return
            self._shown = pct - pct % self.every
            self._printed = True
            print(self._line(), file=self.file, flush=True)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        self._postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        slow = time.perf_counter() - self._start >= self.quiet_s
        if not self._closed and self.total and (self._printed or slow):
            print(self._line(), file=self.file, flush=True)
        self._closed = True

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        self._closed = True


class _Off(LineProgress):
    def update(self, n: int = 1) -> None:
        self.n += int(n)

    def close(self) -> None:
        self._closed = True


def progress(
    total: int,
    desc: str,
    unit: str = "it",
    enabled: bool = True,
    every: int = 10,
    leave: bool = True,
    file: TextIO | None = None,
) -> Any:
    """A progress bar for ``total`` steps: tqdm (on stderr) when it is a terminal, else a
    :class:`LineProgress` printing a line per ``every`` %; nothing when ``enabled`` is false."""
    stream = file if file is not None else sys.stderr
    if not enabled:
        return _Off(total, desc, unit, every, stream)
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, leave=leave, file=stream, smoothing=0.1)
    return LineProgress(total, desc, unit, every, stream)
