"""The store as a ledger of a collection: create or resume, its plan, its lock, its reports.

A store remembers the identity of the configuration that made it (``attrs["config"]``) and
its plan (``plan.parquet`` inside the store). Resuming with another identity is refused
before anything is written. Each finished shard leaves ``reports/shard-NNNNNN.json`` beside
its data, written before its done-marker.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from collector.config import CollectConfig, config_differences
from collector.plan.candidates import PLAN_FILE, make_plan, plan_windows, write_plan
from collector.run.fill import Candidate, ShardRows
from collector.run.lock import StoreBusyError, StoreLock
from collector.run.report import ShardReport
from shared.errors import StoreMismatchError
from shared.layout.spec import StoreSpec
from shared.secrets import redact
from shared.store.handle import Store, create_store, is_half_created, open_store, store_exists
from shared.store.location import is_url, local_path
from shared.store.manifests import report_key

__all__ = [
    "Ledger",
    "open_ledger",
    "plan_folder",
    "planned_bytes",
    "StoreBusyError",
    "StoreLock",
    "report_key",
    "read_report",
    "write_report",
    "open_or_create",
]


@dataclass
class Ledger:
    """An opened collection: its store and plan."""

    store: Store
    plan: gpd.GeoDataFrame
    created: bool

    def candidates(self, shard: int) -> list[Candidate]:
        """The shard's candidates: primaries with their slot, spares with their rank."""
        rows = self.shard_rows([shard]).get(shard)
        return list(rows.candidates()) if rows is not None else []

    def shard_candidates(self, shards: list[int]) -> dict[int, list[Candidate]]:
        """The candidates of each of ``shards`` (see :meth:`shard_rows`)."""
        return {s: list(rows.candidates()) for s, rows in self.shard_rows(shards).items()}

    def shard_rows(self, shards: list[int]) -> dict[int, ShardRows]:
        """The plan rows of each of ``shards``, from one pass over the plan (grouped once)."""
        plan = self.plan
        shard_col = plan["shard"].to_numpy().astype(np.int64)
        wanted = np.zeros(int(shard_col.max(initial=-1)) + 1, bool)
        asked = np.asarray([s for s in shards if 0 <= s < wanted.size], np.int64)
        wanted[asked] = True
        picked = np.flatnonzero(wanted[shard_col]) if wanted.size else np.zeros(0, np.int64)
        picked = picked[np.argsort(shard_col[picked], kind="stable")]
        needed = [c for c in plan.columns if c in _JOB_COLUMNS or c.startswith("window_")]
        rows = pd.DataFrame(plan[needed]).iloc[picked]  # not the footprints, cities, …
        start, end = plan_windows(rows)
        cols = {
            "candidate_id": rows["candidate_id"].to_numpy(np.int64),
            "lon": rows["lon"].to_numpy(np.float64),
            "lat": rows["lat"].to_numpy(np.float64),
            "epsg": rows["epsg"].to_numpy(np.int64),
            "transform": np.stack(rows["transform"].to_numpy()).astype(np.float64)
            if len(rows)
            else np.zeros((0, 6)),
            "slot": rows["slot"].to_numpy(np.int64),
            "spare_rank": rows["spare_rank"].to_numpy(np.int64),
            "start": start,
            "end": end,
        }
        of = shard_col[picked]
        bounds = np.searchsorted(of, asked, side="left"), np.searchsorted(of, asked, side="right")
        size = int(self.store.spec.size)
        out: dict[int, ShardRows] = {}
        for s, lo, hi in zip(asked.tolist(), bounds[0].tolist(), bounds[1].tolist(), strict=True):
            out[int(s)] = ShardRows(**{k: v[lo:hi] for k, v in cols.items()}, size=size)
        for s in shards:
            out.setdefault(int(s), ShardRows(**{k: v[:0] for k, v in cols.items()}, size=size))
        return out


#: the plan columns a shard job carries (besides the season windows)
_JOB_COLUMNS = ("candidate_id", "lon", "lat", "epsg", "transform", "slot", "spare_rank")


def _spec(cfg: CollectConfig) -> StoreSpec:
    p = cfg.plan
    classes: tuple[str, ...] = ()
    if cfg.truth:
        from collector.sources.synthetic import LANDCOVER_CLASSES

        classes = tuple(LANDCOVER_CLASSES)
    return StoreSpec(
        truth_classes=classes,
        n_samples=p.n,
        n_seasons=p.seasons,
        bands=cfg.band_list(),
        size=p.size,
        shard_samples=p.shard_samples,
        collection=cfg.collection,
        resolution_m=p.resolution_m,
    )


#: what ``python -m collector plan --out DIR`` writes: such a folder is a store in the making
PLAN_FOLDER_FILES = frozenset({PLAN_FILE, "map.png"})


def plan_folder(location: str) -> bool:
    """True for a local folder holding only what ``plan`` writes (``plan.parquet``, ``map.png``):
    ``collect`` with the same settings and ``--out`` continues from it."""
    if is_url(location):
        return False
    path = local_path(location)
    if not path.is_dir() or (path / "zarr.json").exists() or not (path / PLAN_FILE).is_file():
        return False
    return all(p.name in PLAN_FOLDER_FILES for p in path.iterdir())


def planned_bytes(location: str, storage_options: dict[str, Any] | None = None) -> bytes | None:
    """``plan.parquet`` of the plan folder ``location`` (a local folder, or an object-store
    prefix ``plan --out URL`` wrote) that is not yet a store; ``None`` otherwise."""
    if not is_url(location):
        return (local_path(location) / PLAN_FILE).read_bytes() if plan_folder(location) else None
    from shared.store.location import get_bytes, zarr_store

    target = zarr_store(location, storage_options=storage_options)
    if get_bytes(target, "zarr.json") is not None:
        return None
    return get_bytes(target, PLAN_FILE)


def _clear_plan_folder(location: str, storage_options: dict[str, Any] | None) -> None:
    """Remove what ``plan`` wrote, so that the store can be created in its place."""
    if not is_url(location):
        for name in PLAN_FOLDER_FILES:
            (local_path(location) / name).unlink(missing_ok=True)
        return
    from zarr.core.sync import sync

    from shared.store.location import zarr_store

    target = zarr_store(location, read_only=False, storage_options=storage_options)
    for name in PLAN_FOLDER_FILES:
        sync(target.delete(name))


def _planned(cfg: CollectConfig, location: str, raw: bytes) -> gpd.GeoDataFrame:
    """The plan ``raw`` (``plan.parquet`` of the plan folder ``location``), checked against
    ``cfg``'s plan settings.

    Raises:
        StoreMismatchError: the plan was made with other settings (one line, the first
            difference named).
    """
    import tempfile

    from collector.plan.candidates import read_plan

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / PLAN_FILE).write_bytes(raw)
        plan, info = read_plan(Path(tmp) / PLAN_FILE, name=f"{location.rstrip('/')}/{PLAN_FILE}")
    diffs = config_differences(info.get("config", {}), cfg.plan.to_dict())
    if diffs:
        keys = ", ".join(k for k, _, _ in diffs)
        key, was, now = diffs[0]
        raise StoreMismatchError(
            f"{location} holds a plan made with other settings (differs in {keys}; e.g. {key} "
            f"is {was!r} in the plan, {now!r} now): collect with the plan's settings to "
            "continue from it, or choose another OUT"
        )
    return plan


def _store_exists(location: str, storage_options: dict[str, Any]) -> bool:
    if not is_url(location):
        path = local_path(location)
        if path.exists() and not (path / "zarr.json").exists():
            if path.is_dir() and not any(path.iterdir()):
                return False
            if plan_folder(location):  # a store in the making
                return False
            raise StoreMismatchError(
                f"OUT {location} exists and is not a store; choose another path"
            )
        return path.exists()
    return store_exists(location, storage_options)


def _check_writable(location: str) -> None:
    if is_url(location):
        return
    path = local_path(location).absolute()
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise PermissionError(f"OUT {location} cannot be created: {parent} is a file")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"OUT {location} is not writable ({parent} is read-only)")


def open_or_create(
    location: str,
    identity: dict[str, Any],
    storage_options: dict[str, Any],
    differences: Callable[[dict[str, Any]], str | None],
    create: Callable[[bool], Store],
) -> tuple[Store, bool]:
    """Resume the store at ``location`` when its identity matches, else create it: the one
    way collect and import open their store. ``differences(stored identity)`` returns the
    one-line refusal when it does not match; ``create(overwrite)`` makes the store (an
    interrupted creation, which holds no data, is made again).

    Raises:
        StoreMismatchError: ``location`` holds another collection or import, or something
            that is not a store.
    """
    half = is_half_created(location, storage_options)
    if _store_exists(location, storage_options) and not half:
        store = open_store(location, "r+", storage_options)
        refusal = differences(store.attrs.get("config", {}))
        if refusal:
            raise StoreMismatchError(refusal)
        return store, False
    _check_writable(location)
    return create(half), True


def open_ledger(cfg: CollectConfig, location: str, synthetic: bool) -> Ledger:
    """Resume the store at ``location`` if it matches ``cfg``, else create it with its plan."""
    opts = cfg.storage_options
    identity = cfg.identity()
    made: dict[str, gpd.GeoDataFrame] = {}

    def differences(had: dict[str, Any]) -> str | None:
        diffs = config_differences(had, identity)
        if not diffs:
            return None
        keys = ", ".join(k for k, _, _ in diffs)
        key, was, now = diffs[0]
        return (
            f"{location} holds another collection (differs in {keys}; e.g. {key} is "
            f"{was!r} in the store, {now!r} now): rerun with the same settings to resume, "
            "or choose another OUT"
        )

    def create(overwrite: bool) -> Store:
        planned = planned_bytes(location, opts)
        if planned is not None:  # made by `plan` with these settings: continue from it
            plan = made["plan"] = _planned(cfg, location, planned)
            _clear_plan_folder(location, opts)  # the store keeps the plan (put back below)
        else:
            plan = made["plan"] = make_plan(cfg.plan)  # plan first: a bad REGION leaves nothing
        store = create_store(
            location,
            _spec(cfg),
            source=cfg.source,
            synthetic=synthetic,
            config=identity,
            storage_options=opts,
            overwrite=overwrite,
            extra_attrs={"recipe": cfg.recipe} if cfg.recipe else None,
        )
        if planned is not None:
            store.write_object(PLAN_FILE, planned)  # the plan file as `plan` wrote it
        else:
            _put_plan(store, plan)
        return store

    store, created = open_or_create(location, identity, opts, differences, create)
    if created:
        return Ledger(store, made["plan"], created=True)
    raw = store.read_object(PLAN_FILE)
    plan = _stored_plan(location, raw) if raw else _write_plan(store, cfg)
    return Ledger(store, plan, created=False)


def _stored_plan(location: str, raw: bytes) -> gpd.GeoDataFrame:
    """The plan a store keeps, read from ``raw``; a damaged one is a one-line error."""
    import pyarrow as pa

    from collector.plan.candidates import PlanError
    from shared.outside import safe_text

    try:
        return gpd.read_parquet(io.BytesIO(raw))
    except (OSError, ValueError, pa.ArrowException) as e:
        reason = safe_text(str(e).splitlines()[0] if str(e) else type(e).__name__, 120)
        raise PlanError(
            f"{location.rstrip('/')}/{PLAN_FILE} is not a readable plan ({reason}): delete it "
            "and rerun to make it again from the store's settings"
        ) from None


def _write_plan(store: Store, cfg: CollectConfig) -> gpd.GeoDataFrame:
    plan = make_plan(cfg.plan)
    _put_plan(store, plan)
    return plan


def _put_plan(store: Store, plan: gpd.GeoDataFrame) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write_plan(plan, tmp)
        store.write_object(PLAN_FILE, path.read_bytes())


def write_report(store: Store, shard: int, report: ShardReport) -> None:
    """Store one shard's report (secrets redacted: source errors may quote signed URLs)."""
    text = json.dumps(redact(report.to_json()), sort_keys=True)
    store.write_object(report_key(shard), text.encode())


def read_report(store: Store, shard: int) -> ShardReport | None:
    """One shard's report, or ``None`` when it has none (or an unreadable one)."""
    raw = store.read_object(report_key(shard))
    try:
        report = json.loads(raw) if raw else None
    except ValueError:
        return None
    return ShardReport.from_json(report) if isinstance(report, dict) else None
