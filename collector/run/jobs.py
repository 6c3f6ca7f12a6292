"""What runs on a Dask worker: fill one shard and write it whole.

The cluster-wide bound on requests in flight is a ``distributed.Semaphore`` shared by every
task of every worker (Earth Engine allows 40 concurrent requests per project, so adding
workers never breaks the quota); the requests-per-second quota is split evenly over the
workers with a token bucket in each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from collector.run.choose import ChoiceRules
from collector.run.fill import GIVE_UP_AFTER, Candidate, Resume, ShardRows, fill_shard
from collector.run.ledger import read_report, write_report
from collector.run.report import ShardReport
from collector.sources import Source, make_source
from collector.sources.retry import RetryPolicy
from shared.store.handle import Store, open_store
from shared.store.writer import read_shard, reset_slots, write_shard

__all__ = ["ShardJob", "RequestLimiter", "run_shard"]


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs for one shard; picklable, holds no credentials."""

    location: str
    shard: int
    rows: ShardRows
    source: str
    collection: str
    bands: tuple[str, ...]
    source_options: dict[str, Any]
    rules: ChoiceRules
    policy: RetryPolicy
    concurrency: int = 1
    refetch: int = 2
    max_in_flight: int | None = None
    requests_per_s: float | None = None  # per worker
    semaphore_name: str = "seco-requests"
    storage_options: dict[str, Any] = field(default_factory=dict)
    give_up_after: int | None = GIVE_UP_AFTER

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The shard's candidates (built from its plan rows on access)."""
        return self.rows.candidates()


class TokenBucket:
    """At most ``rate`` acquisitions per second in this process (thread-safe)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next)
            self.next = at + self.interval
        if at > now:
            time.sleep(at - now)


class RequestLimiter:
    """Context manager factory wrapping each source request in the rate and in-flight bounds."""

    def __init__(self, semaphore: Any | None, bucket: TokenBucket | None) -> None:
        self.semaphore = semaphore
        self.bucket = bucket

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self.bucket is not None:
            self.bucket.wait()
        if self.semaphore is None:
            yield
            return
        self.semaphore.acquire()
        try:
            yield
        finally:
            self.semaphore.release()


_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


def _cached(key: tuple[Any, ...], build: Any) -> Any:
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = build()
        return _CACHE[key]


def _source(job: ShardJob) -> Source:
    key = (
        "source",
        job.source,
        job.collection,
        job.bands,
        repr(sorted(job.source_options.items())),
    )
    return _cached(
        key + (job.rules.granule_cloud_max,),
        lambda: make_source(
            job.source, job.collection, job.bands, job.source_options, job.rules.granule_cloud_max
        ),
    )


def _worker_id() -> str | None:
    """The Dask worker running this task (``None`` outside one)."""
    try:
        from distributed import get_worker

        return str(get_worker().id)
    except (ImportError, ValueError):
        return None


def _limiter(job: ShardJob) -> RequestLimiter:
    worker = _worker_id()

    def build() -> RequestLimiter:
        semaphore: Any = None
        if job.max_in_flight:
            if worker is not None:
                from distributed import Semaphore

                semaphore = Semaphore(max_leases=job.max_in_flight, name=job.semaphore_name)
            else:  # not on a Dask worker: bound this process only
                semaphore = threading.BoundedSemaphore(job.max_in_flight)
        bucket = TokenBucket(job.requests_per_s) if job.requests_per_s else None
        return RequestLimiter(semaphore, bucket)

    # per worker: a semaphore belongs to its worker's scheduler connection, which ends with the
    # cluster (a second in-process cluster would otherwise reuse a closed one)
    key = ("limiter", worker, job.semaphore_name, job.max_in_flight, job.requests_per_s)
    return _cached(key, build)


def _resume(store: Store, job: ShardJob) -> tuple[Resume | None, ShardReport | None]:
    """The shard's earlier pending outcome (slots waiting for retries), if it left one."""
    previous = read_report(store, job.shard)
    pending = (previous.pending if previous else None) or {}
    if not pending.get("slots") or not pending.get("retry"):
        return None, None
    data = read_shard(store, job.shard)
    slots = [int(s) for s in pending["slots"]]
    reset_slots(data, store.spec, job.shard, slots)  # a killed retry may have half-filled them
    return Resume(data, tuple(slots), tuple(int(i) for i in pending["retry"])), previous


def run_shard(job: ShardJob) -> ShardReport:
    """Fill, report and write one shard; a shard already done is left alone (idempotent).

    Reads the shard's own done-marker only, so its cost does not grow with the store. A
    shard with slots left empty after source errors is written without its done-marker and
    its report lists them under ``pending``; the next run retries exactly those.

    Raises:
        SourceUnreachableError: ``job.give_up_after`` candidates in a row failed for source
            reasons (nothing of this shard is written).
    """
    store = open_store(job.location, "r+", job.storage_options)
    if store.shard_done(job.shard):
        return ShardReport(job.shard, skipped=True)
    source, limiter = _source(job), _limiter(job)
    if hasattr(source, "set_request_limiter"):  # the source bounds its own network calls
        source.set_request_limiter(limiter)
        limiter = nullcontext  # type: ignore[assignment]
    resume, previous = _resume(store, job)
    outcome = fill_shard(
        source,
        store.spec,
        job.shard,
        list(job.candidates),
        job.rules,
        job.policy,
        concurrency=job.concurrency,
        refetch=job.refetch,
        limiter=limiter,
        resume=resume,
        give_up_after=job.give_up_after,
    )
    report = outcome.report(job.shard).merged_with(previous)
    if outcome.pending:
        # data first, then the report that points at it: a crash in between retries the
        # earlier report's slots (reset before the retry) or redoes the shard whole
        write_shard(store, job.shard, outcome.data, finish=False)
        write_report(store, job.shard, report)
        return report
    write_report(store, job.shard, report)  # before the marker: a crash here redoes the shard
    write_shard(store, job.shard, outcome.data)
    return report
