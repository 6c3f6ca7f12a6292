"""Fault injection around any :class:`Source`: latency, transient and permanent errors, seeded.

``FaultySource(inner, ...)`` behaves like ``inner`` except that every call first waits and
may raise. Its decisions are deterministic, drawn from ``(seed, call kind, candidate_id, …)``:

- **latency**: every call (failing or not) sleeps ``latency_s · (1 + jitter · v)``, ``v``
  uniform in [−1, 1) drawn per (kind, candidate, attempt);
- **permanent errors**: drawn once per (kind, candidate), *not* per attempt: a candidate whose
  draw falls below ``permanent_rate`` fails every call of that kind with
  :class:`PermanentError`, however often it is retried. Search and fetch draw separately, so
  with both kinds faulty a candidate fails somewhere with probability ``1 − (1 − p)²``.
  ``permanent_ids`` lists candidates that always fail permanently (every faulty kind);
- **transient errors**: drawn per (kind, candidate, attempt), where *attempt* counts this
  wrapper's earlier calls of that kind for that candidate. A call fails with
  :class:`TransientError` with probability ``transient_rate``, independently per attempt, so
  retries clear it; ``fail_first = k`` additionally fails the first ``k`` attempts of every
  call, for tests that need an exact number of retries.

Permanent faults are checked before transient ones. Only the kinds in ``kinds`` are faulty:
calls of the other kind go straight through, without latency and uncounted. Counters (``calls``, ``transient``, ``permanent``) and
attempt numbers live in the instance: a pickled copy (e.g. on a Dask worker) continues from
the counts it was pickled with, and counts on its own afterwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from collector.sources.base import Location, Patch, PermanentError, Scene, Source, TransientError

__all__ = ["FaultCounts", "FaultySource"]

_KINDS = ("search", "fetch")
T = TypeVar("T")


@dataclass(frozen=True)
class FaultCounts:
    """Calls seen by a :class:`FaultySource` and the faults it injected."""

    calls: int
    transient: int
    permanent: int

    @property
    def passed(self) -> int:
        """Calls handed to the wrapped source."""
        return self.calls - self.transient - self.permanent


def _natural(value: int) -> int:
    """Map any int to a non-negative one, one to one (0, -1, 1, -2 … → 0, 1, 2, 3 …)."""
    return 2 * value if value >= 0 else -2 * value - 1


class FaultySource:
    """A :class:`Source` that delays calls and injects typed errors (see the module docs)."""

    def __init__(
        self,
        inner: Source,
        latency_s: float = 0.0,
        transient_rate: float = 0.0,
        permanent_rate: float = 0.0,
        seed: int = 0,
        jitter: float = 0.0,
        permanent_ids: Iterable[int] = (),
        fail_first: int = 0,
        kinds: Sequence[str] = _KINDS,
    ) -> None:
        for label, rate in (("transient_rate", transient_rate), ("permanent_rate", permanent_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {rate}")
        if latency_s < 0:
            raise ValueError(f"latency_s must be ≥ 0, got {latency_s}")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {jitter}")
        if fail_first < 0:
            raise ValueError(f"fail_first must be ≥ 0, got {fail_first}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        unknown = [k for k in kinds if k not in _KINDS]
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {_KINDS}, got {list(kinds)}")
        self.inner = inner
        self.name: str = inner.name
        self.synthetic: bool = inner.synthetic
        self.collection: str = inner.collection
        self.bands: tuple[str, ...] = tuple(inner.bands)
        self.latency_s = float(latency_s)
        self.transient_rate = float(transient_rate)
        self.permanent_rate = float(permanent_rate)
        self.seed = int(seed)
        self.jitter = float(jitter)
        self.permanent_ids = frozenset(int(i) for i in permanent_ids)
        self.fail_first = int(fail_first)
        self.kinds = tuple(kinds)
        self.calls = 0
        self.transient = 0
        self.permanent = 0
        self._attempts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"FaultySource({self.inner!r}, latency_s={self.latency_s:g}, "
            f"transient_rate={self.transient_rate:g}, permanent_rate={self.permanent_rate:g}, "
            f"seed={self.seed})"
        )

    # -- pickling: the lock stays behind ----------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        with self._lock:
            state["_attempts"] = dict(self._attempts)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- the Source protocol --------------------------------------------------------------------

    def search(self, location: Location) -> list[list[Scene]]:
        """``inner.search(location)``, after the injected delay and faults."""
        return self._call("search", location.candidate_id, lambda: self.inner.search(location))

    def fetch(self, location: Location, scenes: Sequence[Scene]) -> Patch:
        """``inner.fetch(location, scenes)``, after the injected delay and faults."""
        return self._call(
            "fetch", location.candidate_id, lambda: self.inner.fetch(location, scenes)
        )

    # -- inspection --------------------------------------------------------------------------------

    def counts(self) -> FaultCounts:
        """A snapshot of the counters."""
        with self._lock:
            return FaultCounts(self.calls, self.transient, self.permanent)

    def attempts(self, kind: str, candidate_id: int) -> int:
        """How many ``kind`` calls this wrapper has seen for a candidate."""
        with self._lock:
            return self._attempts.get((kind, int(candidate_id)), 0)

    def fails_permanently(self, kind: str, candidate_id: int) -> bool:
        """Whether every ``kind`` call of this candidate raises :class:`PermanentError`."""
        if kind not in self.kinds:
            return False
        if int(candidate_id) in self.permanent_ids:
            return True
        return self._uniform(kind, candidate_id, -1, 0) < self.permanent_rate

    # -- internals ---------------------------------------------------------------------------------

    def _uniform(self, kind: str, candidate_id: int, attempt: int, stream: int) -> float:
        words = [self.seed, _KINDS.index(kind), _natural(int(candidate_id)), attempt + 1, stream]
        return float(np.random.default_rng(words).random())

    def _call(self, kind: str, candidate_id: int, run: Callable[[], T]) -> T:
        if kind not in self.kinds:
            return run()
        with self._lock:
            attempt = self._attempts.get((kind, int(candidate_id)), 0)
            self._attempts[(kind, int(candidate_id))] = attempt + 1
            self.calls += 1
        if self.latency_s > 0:
            v = 2.0 * self._uniform(kind, candidate_id, attempt, 2) - 1.0
            time.sleep(self.latency_s * (1.0 + self.jitter * v))
        if self.fails_permanently(kind, candidate_id):
            with self._lock:
                self.permanent += 1
            raise PermanentError(
                f"injected permanent fault: {kind} of candidate {candidate_id} (attempt {attempt})"
            )
        if (
            attempt < self.fail_first
            or self._uniform(kind, candidate_id, attempt, 1) < self.transient_rate
        ):
            with self._lock:
                self.transient += 1
            raise TransientError(
                f"injected transient fault: {kind} of candidate {candidate_id} (attempt {attempt})"
            )
        return run()
