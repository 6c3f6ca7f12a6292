"""Retries with exponential backoff and full jitter, for transient source errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from collector.sources.base import PermanentError, TransientError, UnreachableError

__all__ = [
    "RetryPolicy",
    "Counters",
    "call_with_retries",
    "RetriesExhausted",
    "UNREACHABLE_ATTEMPTS",
]

#: attempts of a request whose service cannot be reached at all (name resolution, refused
#: connection): one retry after at most a second covers a blip; more would only delay the
#: one-line error, since every other request would fail the same way.
UNREACHABLE_ATTEMPTS = 2
UNREACHABLE_DELAY_S = 1.0

T = TypeVar("T")


class RetriesExhausted(PermanentError):
    """A call kept failing transiently until the retry cap; treated like a permanent failure."""


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt ``i`` (from 0) that fails transiently waits ``U(0, min(cap, base·2^i))`` seconds."""

    max_attempts: int = 6
    base_s: float = 1.0
    cap_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be ≥ 1, got {self.max_attempts}")
        if self.base_s < 0 or self.cap_s < 0:
            raise ValueError("backoff times must be ≥ 0")

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2.0**attempt))


@dataclass
class Counters:
    """What happened to the requests of one task."""

    requests: int = 0
    retries: int = 0
    transient: int = 0
    permanent: int = 0
    exhausted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def merge(self, other: Counters) -> None:
        self.requests += other.requests
        self.retries += other.retries
        self.transient += other.transient
        self.permanent += other.permanent
        self.exhausted += other.exhausted
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


def call_with_retries(
    fn: Callable[[int], T],
    policy: RetryPolicy,
    counters: Counters,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn(attempt)`` until it succeeds, retrying :class:`TransientError` with backoff.

    :class:`PermanentError` propagates at once; after ``max_attempts`` transient failures
    :class:`RetriesExhausted` is raised carrying the last message. An
    :class:`UnreachableError` is tried :data:`UNREACHABLE_ATTEMPTS` times at most (waiting at
    most :data:`UNREACHABLE_DELAY_S`) and then propagates itself, so the run can stop.
    """
    for attempt in range(policy.max_attempts):
        counters.requests += 1
        try:
            return fn(attempt)
        except UnreachableError:
            counters.transient += 1
            if attempt + 1 >= min(policy.max_attempts, UNREACHABLE_ATTEMPTS):
                raise
            counters.retries += 1
            sleep(min(UNREACHABLE_DELAY_S, policy.delay(attempt, rng)))
        except TransientError as e:
            counters.transient += 1
            if attempt + 1 == policy.max_attempts:
                counters.exhausted += 1
                raise RetriesExhausted(
                    f"still failing after {policy.max_attempts} attempts: {e}"
                ) from e
            counters.retries += 1
            sleep(policy.delay(attempt, rng))
        except PermanentError:
            counters.permanent += 1
            raise
    raise AssertionError("unreachable")  # pragma: no cover
