"""Importing a dataset: inventory → store (created once) → Dask, one task per shard → finalize.

The same machinery as ``collect``: the store is created at its final size by the client, each
task reads its shard's locations and writes the shard whole (``shared.store.writer.write_shard``,
done-marker last, report before it), a rerun skips done shards and redoes the rest, and
``collector.run.finalize`` writes statistics, index, pictures and ``report.json`` and verifies.
A location that fails its checks is quarantined: recorded with its reason, its slot left empty
(:mod:`collector.importers.quarantine` states the rules, duplicates included).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from collector.importers import make_importer
from collector.importers.base import BadInputError, DataError, Importer, LocationRef
from collector.importers.quarantine import drop_duplicates, preflight, reason_kind, rejection
from collector.run.ledger import StoreLock, open_or_create, write_report
from collector.run.report import ShardReport
from shared.errors import StoreMismatchError
from shared.layout.spec import StoreSpec
from shared.outside import safe_text
from shared.store.handle import Store, create_store, open_store
from shared.validate import check_host_port, check_scheduler_address

__all__ = ["ImportConfig", "ImportJob", "ImportResult", "import_dataset", "import_shard"]

INVENTORY_FILE = "inventory.parquet"


@dataclass(frozen=True)
class ImportConfig:
    """What ``import`` needs: the format, where the data is, and how to run.

    ``level`` None takes what the data holds; ``limit`` keeps the first N locations in the
    dataset's own order. Runtime fields follow ``CollectConfig``'s names, so the collector's
    Dask client setup serves both.
    """

    format: str
    data: str
    level: str | None = None
    limit: int | None = None
    shard_samples: int = 16
    scheduler: str | None = None
    dashboard: str = "127.0.0.1:0"  # host:port of a local cluster's dashboard, as for collect
    workers: int | None = None
    progress: bool = True
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise DataError(f"--limit must be ≥ 1, got {self.limit}")
        if self.shard_samples < 1:
            raise DataError(f"--shard-samples must be ≥ 1, got {self.shard_samples}")
        if self.workers is not None and self.workers < 1:
            raise DataError(f"--workers must be ≥ 1, got {self.workers}")
        if self.level is not None and self.level.upper() not in ("L1C", "L2A"):
            raise DataError(f"--level must be l1c or l2a, got {self.level!r}")
        if self.scheduler:
            check_scheduler_address("--scheduler", self.scheduler)
        check_host_port("--dashboard", self.dashboard)

    def runtime(self, name: str) -> Any:
        """Runtime settings the Dask client asks for: one reading task per worker process."""
        return {"tasks_per_worker": 1}.get(name)


@dataclass(frozen=True)
class ImportJob:
    """One shard's work, picklable: the store, the importer and the shard's locations."""

    location: str
    shard: int
    format: str
    level: str
    refs: tuple[LocationRef, ...]
    first_sample: int
    storage_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportResult:
    location: str
    created: bool
    shards_run: int
    imported: int
    skipped: int
    seconds: float
    finalize: dict[str, Any]
    #: CPU seconds of this process during the shard phase: the work itself when the cluster
    #: runs in-process (``--scheduler threads``), only the client's share otherwise
    cpu_seconds: float = 0.0


def _fingerprint(refs: list[LocationRef]) -> str:
    return hashlib.sha256("\n".join(r.id for r in refs).encode()).hexdigest()


def _identity(importer: Importer, cfg: ImportConfig, refs: list[LocationRef]) -> dict[str, Any]:
    """What decides the data: format, level, the listed locations (not DATA's path)."""
    return {
        "import": importer.name,
        "collection": importer.level,
        "limit": cfg.limit,
        "locations": len(refs),
        "locations_sha256": _fingerprint(refs),
        "shard_samples": cfg.shard_samples,
    }


def _spec(importer: Importer, n: int, shard_samples: int) -> StoreSpec:
    from shared.layout.bands import band_names

    return StoreSpec(
        n_samples=n,
        n_seasons=importer.n_seasons,
        bands=band_names(importer.level),
        size=264,
        shard_samples=shard_samples,
        collection=importer.level,
        crs_units=importer.crs_units,
    )


def open_import_store(
    cfg: ImportConfig, out: str, importer: Importer, refs: list[LocationRef], data: Path
) -> tuple[Store, bool]:
    """Resume the store at ``out`` if it was imported from the same locations, else create it.

    Raises:
        StoreMismatchError: ``out`` holds something else (another store, another import).
    """
    identity = _identity(importer, cfg, refs)

    def differences(had: dict[str, Any]) -> str | None:
        diffs = [k for k in sorted(set(had) | set(identity)) if had.get(k) != identity.get(k)]
        if not diffs:
            return None
        return (
            f"{out} holds another collection or import (differs in {', '.join(diffs)}): "
            "rerun with the same FORMAT, DATA, --level and --limit to resume, or choose another --out"
        )

    def create(overwrite: bool) -> Store:
        provenance = {
            **importer.provenance(),
            "folder": data.name,
            "locations_listed": len(refs),
            "skipped_files": list(getattr(importer, "skipped", [])),
        }
        store = create_store(
            out,
            _spec(importer, len(refs), cfg.shard_samples),
            source=importer.name,
            synthetic=False,
            config=identity,
            storage_options=cfg.storage_options,
            overwrite=overwrite,
            extra_attrs={"imported_from": provenance},
        )
        _put_inventory(store, refs, data)
        return store

    try:
        return open_or_create(out, identity, cfg.storage_options, differences, create)
    except StoreMismatchError as e:
        raise StoreMismatchError(str(e).replace("OUT ", "--out ", 1)) from None


def _put_inventory(store: Store, refs: list[LocationRef], data: Path) -> None:
    """``inventory.parquet``: sample index → the location's id in the source dataset."""
    import io

    import pandas as pd

    frame = pd.DataFrame(
        {
            "sample": np.arange(len(refs), dtype=np.int64),
            "source_id": [r.id for r in refs],
            "source_path": [os.path.relpath(r.path, data) for r in refs],
        }
    )
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    store.write_object(INVENTORY_FILE, buf.getvalue())


def import_shard(job: ImportJob) -> ShardReport:
    """Read one shard's locations and write the shard whole; a done shard is left alone."""
    from shared.store.writer import empty_shard, write_shard

    start = time.perf_counter()
    store = open_store(job.location, "r+", job.storage_options)
    if store.shard_done(job.shard):
        return ShardReport(job.shard, skipped=True)
    importer = make_importer(job.format, job.level)
    spec = store.spec
    data = empty_shard(spec, job.shard)
    rejected: list[dict[str, Any]] = []
    for slot, got in enumerate(importer.read_many(job.refs)):
        sample = job.first_sample + slot
        if isinstance(got, BadInputError):
            rejected.append(rejection(sample, slot, str(got)))
            continue
        if (
            got.pixels.shape != (spec.n_seasons,)
            or got.pixels.bands != spec.bands
            or got.pixels.size != spec.size
        ):
            rejected.append(
                rejection(
                    sample,
                    slot,
                    f"pixels of {len(got.pixels.bands)} bands, size {got.pixels.size}, "
                    f"{got.pixels.shape[0] if got.pixels.shape else 0} seasons",
                )
            )
            continue
        values: dict[str, Any] = {}
        if got.cloud is not None:
            values["cloud"] = got.cloud
        data.set_slot(
            slot,
            pixels=got.pixels,
            clear_fraction=got.clear,
            time=got.time,
            product_id=np.array(got.product_id, dtype=object),
            lon=got.lon,
            lat=got.lat,
            epsg=got.epsg,
            transform=np.asarray(got.transform, np.float64),
            candidate_id=sample,
            **values,
        )
    report = ShardReport(
        shard=job.shard,
        slots=data.n_slots,
        filled=int(data.valid.sum()),
        tried=data.n_slots,
        rejected=rejected,
        inputs_rejected=dict(Counter(reason_kind(r["reason"]) for r in rejected)),
        seconds=round(time.perf_counter() - start, 3),
    )
    write_report(store, job.shard, report)  # before the marker: a crash here redoes the shard
    write_shard(store, job.shard, data)
    return report


def import_dataset(cfg: ImportConfig, out: str, log: Any = print) -> ImportResult:
    """List ``cfg.data``, create or resume the store at ``out``, import, finalize, write the card.

    Raises:
        DataError: DATA missing, empty or of another format (a usage error).
        StoreMismatchError: ``out`` holds something else.
    """
    from collector.importers.footprints import import_places
    from collector.run.engine import RunTotals, run_shard_tasks
    from collector.run.finalize import finalize
    from shared.publish.card import write_card
    from shared.store.summary import drop_record

    data = Path(cfg.data)
    if not data.exists():
        raise DataError(f"DATA {data} does not exist")
    importer = make_importer(cfg.format, cfg.level, data)
    refs = importer.locations(data, cfg.limit)
    for line in getattr(importer, "skipped", []):
        log(f"skipped file {safe_text(line)}")
    preflight(importer, refs, data)
    store, created = open_import_store(cfg, out, importer, refs, data)
    spec = store.spec
    with StoreLock(store) as lock:
        pending = store.pending_shards()
        verb = "creating" if created else "resuming"
        log(
            f"{verb} {out}: {spec.n_samples} {importer.name} locations ({importer.level}, "
            f"{spec.n_seasons} seasons), {len(pending)} shard(s) to do, "
            f"{spec.n_shards - len(pending)} done"
        )
        if lock.removed:
            log(f"removed {lock.removed} temporary file(s) of writes killed in an earlier run")
        totals = RunTotals()
        if pending:
            drop_record(store, pending)  # until finalize merges them again

            def jobs(_n_workers: int) -> list[ImportJob]:
                out_jobs = []
                for shard in pending:
                    sl = spec.shard_slice(shard)
                    out_jobs.append(
                        ImportJob(
                            store.location,
                            shard,
                            importer.name,
                            importer.level,
                            tuple(refs[sl]),
                            sl.start,
                            dict(cfg.storage_options),
                        )
                    )
                return out_jobs

            slots = sum(spec.shard_slice(s).stop - spec.shard_slice(s).start for s in pending)
            totals = run_shard_tasks(
                cfg, import_shard, jobs, len(pending), slots, log, "import", cfg.progress
            )
        duplicates = drop_duplicates(store, log)  # the duplicate rule; rewrites those shards
        totals.filled -= sum(duplicates.values())
        totals.rejected += sum(duplicates.values())
        changed = totals.written | set(duplicates)
        summary = finalize(store, log, changed=changed, plan=import_places(spec.size))
        write_card(store.location, cfg.storage_options)
    return ImportResult(
        out,
        created,
        len(pending),
        totals.filled,
        totals.rejected,
        totals.seconds,
        summary,
        totals.cpu_seconds,
    )
