"""The collection engine: plan → fetch (Dask, one task per shard) → finalize.

Rerunning the same command resumes: finished shards are skipped, the others are redone whole
(or, when they wait for retries after source errors, just their waiting slots), and the
result equals an uninterrupted run. The client creates the store (its final size) once,
before any task runs; tasks write only their own shards. ``repair=True`` first unmarks every
finished shard that is damaged (see :mod:`shared.store.manifests`), so it is rewritten from its plan.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from collector.config import CollectConfig
from collector.run.choose import ChoiceRules
from collector.run.fill import GIVE_UP_AFTER, NetworkUnreachableError, SourceUnreachableError
from collector.run.jobs import ShardJob, run_shard
from collector.run.ledger import Ledger, StoreLock, open_ledger
from collector.run.report import ShardReport
from collector.sources import preflight, probe
from collector.sources.base import UnreachableError
from collector.sources.retry import RetryPolicy
from shared.store.handle import Store
from shared.store.summary import drop_record

__all__ = [
    "CollectError",
    "CollectError",
    "UnreachableRunError",
    "CollectResult",
    "RunTotals",
    "collect",
    "dask_client",
    "dashboard_address",
    "run_shard_tasks",
]

Log = Callable[[str], None]


class CollectError(RuntimeError):
    """Some shards could not be written; rerunning the same command resumes."""


class UnreachableRunError(CollectError):
    """The source could not be reached; nothing more was tried. ``network``: its service
    cannot be reached at all (name resolution, refused connection), not merely failing."""

    def __init__(self, message: str, network: bool = True) -> None:
        super().__init__(message)
        self.network = network


@dataclass
class CollectResult:
    location: str
    created: bool
    shards_run: int
    filled: int
    rejected: int
    retries: int
    requests: int
    fetch_seconds: float
    finalize: dict[str, Any]


class ClusterSettings(Protocol):
    """What :func:`dask_client` reads of a job's settings (a collection's or an import's)."""

    @property
    def scheduler(self) -> str | None: ...
    @property
    def workers(self) -> int | None: ...
    @property
    def dashboard(self) -> str: ...
    def runtime(self, name: str) -> Any: ...


@contextmanager
def dask_client(cfg: ClusterSettings, n_tasks: int, log: Log) -> Iterator[Any]:
    """A client on ``cfg.scheduler`` (an address, or ``"threads"`` for an in-process cluster),
    else on a fresh ``LocalCluster`` of worker processes."""
    from distributed import Client, LocalCluster

    if cfg.scheduler and cfg.scheduler != "threads":
        client = Client(cfg.scheduler)
        log(f"dask: scheduler {cfg.scheduler}, its dashboard {client.dashboard_link}")
        try:
            yield client
        finally:
            client.close()
        return
    workers = cfg.workers or max(1, min(os.cpu_count() or 1, n_tasks))
    with _workers_ignore_interrupts():
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=int(cfg.runtime("tasks_per_worker")),
            processes=cfg.scheduler != "threads",
            dashboard_address=cfg.dashboard,  # 127.0.0.1:0 unless asked otherwise (None would
            # still open the scheduler's HTTP server, on every interface: never pass it)
            silence_logs=logging.CRITICAL,  # shutdown races log tracebacks that mean nothing
        )
    address = dashboard_address(cluster)
    log(f"dask: dashboard {address}" if address else "dask: no dashboard")
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextmanager
def _workers_ignore_interrupts() -> Iterator[None]:
    """Start a local cluster's processes with Ctrl-C (SIGINT) ignored: the disposition is
    inherited by the spawned workers, so Ctrl-C never prints their start-up or shutdown
    tracebacks; this process handles it again once the cluster is up (and then closes the
    workers itself). A Ctrl-C during these seconds of start-up is ignored. Outside the main
    thread this does nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def dashboard_address(cluster: Any) -> str | None:
    """``http://host:port/status`` where the local cluster's dashboard really listens (read
    from its bound socket: ``0.0.0.0`` means every interface), or None without one."""
    server = getattr(cluster.scheduler, "http_server", None)
    if server is None or "dashboard" not in getattr(cluster.scheduler, "services", {}):
        return None
    sockets = getattr(server, "_sockets", {})  # tornado keeps the bound sockets here
    bound = [sock.getsockname()[:2] for sock in sockets.values()]
    host, port = bound[0] if bound else ("?", getattr(server, "port", "?"))
    everywhere = any(h in ("0.0.0.0", "::") for h, _ in bound)
    shown = f"[{host}]" if ":" in str(host) else host
    return f"http://{shown}:{port}/status" + (" (every interface)" if everywhere else "")


def _jobs(cfg: CollectConfig, ledger: Ledger, shards: list[int], n_workers: int) -> list[ShardJob]:
    """One job per shard, built in one pass over the plan."""
    rules = ChoiceRules(cfg.clear_threshold, cfg.granule_cloud_max)
    policy = RetryPolicy(cfg.max_attempts, cfg.backoff_s, cfg.backoff_max_s)
    rate = cfg.runtime("max_requests_per_s")
    rows = ledger.shard_rows(shards)
    return [
        ShardJob(
            location=ledger.store.location,
            shard=shard,
            rows=rows[shard],
            source=cfg.source,
            collection=cfg.collection,
            bands=cfg.band_list(),
            source_options=dict(cfg.source_options),
            rules=rules,
            policy=policy,
            concurrency=int(cfg.runtime("concurrency")),
            refetch=cfg.refetch,
            max_in_flight=cfg.runtime("max_in_flight"),
            requests_per_s=(rate / n_workers) if rate else None,
            semaphore_name=f"seco-{cfg.source}-requests",
            storage_options=dict(cfg.storage_options),
        )
        for shard in shards
    ]


def _unreachable(what: str, network: bool = False) -> CollectError:
    return UnreachableRunError(
        f"source unreachable: {what.splitlines()[0] if what else ''}; nothing more was tried; "
        "check the source and rerun the same command",
        network,
    )


def _failure_streak(streak: int, report: ShardReport) -> int:
    """Candidates failing for source reasons in a row, over shard reports in arrival order."""
    failed = report.failed
    if report.tried and failed == report.tried:
        return streak + failed
    return 0


@dataclass
class RunTotals:
    """Sums over the shard reports of one run."""

    shards: int = 0
    filled: int = 0
    rejected: int = 0
    retries: int = 0
    requests: int = 0
    waiting: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    written: set[int] = field(default_factory=set)

    def add(self, report: ShardReport) -> None:
        self.shards += 1
        self.filled += report.filled
        self.rejected += len(report.rejected)
        self.retries += report.retries
        self.requests += report.requests
        self.waiting += len((report.pending or {}).get("slots", []))
        if not report.skipped:
            self.written.add(report.shard)


class _Job(Protocol):
    @property
    def shard(self) -> int: ...


def run_shard_tasks(
    cfg: ClusterSettings,
    task: Callable[[Any], ShardReport],
    make_jobs: Callable[[int], Sequence[_Job]],
    n_tasks: int,
    slots: int,
    log: Log,
    desc: str = "collect",
    progress: bool = True,
) -> RunTotals:
    """Run ``task`` over the jobs (``make_jobs(n_workers)``), one Dask task per shard, on
    the client :func:`dask_client` gives: the one shard-task loop of collect and import.

    A task that crashes is counted and the others go on; the source being unreachable (one
    task's :class:`SourceUnreachableError`, or too many candidates in a row failing for
    source reasons across shards) cancels the rest.

    Raises:
        CollectError: some tasks failed (rerun to resume), or the source is unreachable.
    """
    from distributed import as_completed

    from shared.progress import progress as progress_bar

    totals = RunTotals()
    streak = 0
    failures: list[str] = []
    n = 0
    with dask_client(cfg, max(1, n_tasks), log) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        log(f"dask: {n_workers} worker(s)")
        jobs = list(make_jobs(n_workers))
        n = len(jobs)
        futures = client.map(
            task, jobs, key=[f"{desc}-{j.shard}-{os.getpid()}" for j in jobs], pure=False
        )
        bar = progress_bar(slots, desc, "loc", enabled=progress)  # off a terminal: lines
        start, cpu = time.perf_counter(), time.process_time()
        try:
            for future in as_completed(futures):
                try:
                    report = future.result()
                except SourceUnreachableError as e:  # no point trying the rest of the plan
                    client.cancel(futures)
                    raise _unreachable(str(e), isinstance(e, NetworkUnreachableError)) from None
                except Exception as e:  # a task crashed: keep going, report, resume later
                    failures.append(
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    )
                    continue
                streak = _failure_streak(streak, report)
                if streak >= GIVE_UP_AFTER:  # across shards: every candidate failed
                    client.cancel(futures)
                    last = report.rejected[-1].get("reason", "")
                    raise _unreachable(
                        f"{streak} candidates in a row failed for source reasons (last: {last})"
                    )
                totals.add(report)
                bar.update(report.slots)
                bar.set_postfix(rejected=totals.rejected, retried=totals.retries, refresh=False)
        finally:
            bar.close()
        totals.seconds = time.perf_counter() - start
        totals.cpu_seconds = time.process_time() - cpu
    if failures:
        raise CollectError(
            f"{len(failures)} of {n} shard task(s) failed (first: {failures[0]}); "
            "rerun the same command to resume"
        )
    return totals


def _run_shards(cfg: CollectConfig, ledger: Ledger, shards: list[int], log: Log) -> RunTotals:
    spec = ledger.store.spec
    slots = sum(spec.shard_slice(s).stop - spec.shard_slice(s).start for s in shards)
    totals = run_shard_tasks(
        cfg,
        run_shard,
        lambda n_workers: _jobs(cfg, ledger, shards, n_workers),
        len(shards),
        slots,
        log,
        "collect",
        cfg.progress,
    )
    if totals.waiting:
        raise CollectError(f"{totals.waiting} slots unfilled after source errors; rerun to retry")
    return totals


def _unmark_damaged(ledger: Ledger, log: Log) -> None:
    """Unmark every damaged finished shard so that it is rewritten (``--repair``)."""
    from shared.checks.upgrade import record_manifests
    from shared.errors import format_ranges
    from shared.store.manifests import find_damage
    from shared.store.writer import clear_shard_marker

    store = ledger.store
    damage, aware = find_damage(store, checksums=True)
    if not aware:  # written before manifests: check the chunks, record the good shards
        _, damage = record_manifests(store)
    shards = sorted({d.shard for d in damage})
    for shard in shards:
        clear_shard_marker(store, shard)
    if shards:
        log(
            f"repair: rewriting {len(shards)} damaged shard(s) {format_ranges(shards)} ({damage[0]})"
        )
    else:
        log("repair: no damaged shard found")


def _refuse_damage(store: Store) -> None:
    """Finished shards with a missing object or manifest are not finalized over."""
    from shared.store.manifests import DamagedShardError
    from shared.store.summary import live_samples

    try:
        live_samples(store)
    except DamagedShardError as e:
        raise CollectError(str(e)) from None


def collect(cfg: CollectConfig, out: str, log: Log = print, repair: bool = False) -> CollectResult:
    """Plan (unless the store has its plan) → fetch the pending shards → finalize.

    ``repair`` rewrites every damaged finished shard first (see :func:`_unmark_damaged`).

    Raises:
        CollectError: shard tasks failed, the source was unreachable, or slots wait for a
            retry after source errors (the store is then not finished; rerun to resume).
        UnreachableRunError: the source cannot be reached (its host name does not resolve,
            the connection is refused), found before anything is written where it can be; a
            store this run created and could not fill is removed.
    """
    preflight(cfg.source, cfg.source_options)
    try:
        probe(cfg.source, cfg.source_options)
    except UnreachableError as e:
        raise UnreachableRunError(f"source unreachable: {e}; nothing was written") from None
    local = None if "://" in out else Path(out)
    existed = local is None or local.exists()
    ledger = open_ledger(cfg, out, synthetic=cfg.facts.synthetic)
    try:
        return _collect(cfg, ledger, out, log, repair)
    except UnreachableRunError as e:
        if existed or not _untouched(ledger):
            raise
        if local is None or not e.network:  # say how, keep what the failures tell
            raise UnreachableRunError(
                f"{e}; {out} was created by this run and holds no finished shard: rerun to "
                "resume or remove it",
                e.network,
            ) from None
        shutil.rmtree(local, ignore_errors=True)  # made by this run and still empty
        raise UnreachableRunError(f"{e}; removed {out}, which this run had created") from None


def _untouched(ledger: Ledger) -> bool:
    """No shard of the store is finished (nothing collected worth keeping)."""
    try:
        return len(ledger.store.pending_shards()) == ledger.store.spec.n_shards
    except Exception:  # unreadable: leave it for the user to inspect
        return False


def _collect(cfg: CollectConfig, ledger: Ledger, out: str, log: Log, repair: bool) -> CollectResult:
    from collector.run.finalize import finalize

    with StoreLock(ledger.store) as lock:
        if lock.warning:
            log(f"warning: {lock.warning}")
        if repair and not ledger.created:
            _unmark_damaged(ledger, log)
        pending = ledger.store.pending_shards()
        done = ledger.store.spec.n_shards - len(pending)
        verb = "creating" if ledger.created else "resuming"
        log(
            f"{verb} {out}: {ledger.store.spec.n_samples} locations, {len(pending)} shard(s) to do, {done} done"
        )
        if lock.removed:
            log(f"removed {lock.removed} temporary file(s) of writes killed in an earlier run")
        totals = RunTotals()
        if pending:
            drop_record(ledger.store, pending)  # until finalize merges them again
            totals = _run_shards(cfg, ledger, pending, log)
        _refuse_damage(ledger.store)
        summary = finalize(ledger.store, log, changed=totals.written, plan=ledger.plan)
        from shared.publish.card import write_card
        from shared.publish.stac import write_stac_collection

        write_card(ledger.store.location, cfg.storage_options)  # as import does
        write_stac_collection(ledger.store)  # now listing the card, on every run alike
    return CollectResult(
        out,
        ledger.created,
        len(pending),
        totals.filled,
        totals.rejected,
        totals.retries,
        totals.requests,
        totals.seconds,
        summary,
    )
