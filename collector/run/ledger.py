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
from dataclasses import dataclass
from typing import Any

import geopandas as gpd

from collector.config import CollectConfig, config_differences
from collector.plan.candidates import PLAN_FILE, make_plan, plan_windows, write_plan
from collector.run.fill import Candidate
from collector.run.lock import StoreBusyError, StoreLock
from collector.sources.base import Location
from shared.errors import StoreMismatchError
from shared.layout.spec import StoreSpec
from shared.secrets import redact
from shared.store.handle import Store, create_store, is_half_created, open_store, store_exists
from shared.store.location import get_bytes, is_url, list_prefix, local_path, put_bytes
from shared.store.manifests import report_key

__all__ = [
    "Ledger",
    "open_ledger",
    "plan_folder",
    "StoreBusyError",
    "StoreLock",
    "report_key",
    "read_reports",
    "read_report",
]


@dataclass
class Ledger:
    """An opened collection: its store and plan."""

    store: Store
    plan: gpd.GeoDataFrame
    created: bool

    def candidates(self, shard: int) -> list[Candidate]:
        """The shard's candidates: primaries with their slot, spares with their rank."""
        rows = self.plan[self.plan["shard"].to_numpy() == shard]
        start, end = plan_windows(rows)
        size = int(self.store.spec.size)
        out = []
        for i, row in enumerate(rows.itertuples(index=False)):
            loc = Location(
                candidate_id=int(row.candidate_id),
                lon=float(row.lon),
                lat=float(row.lat),
                epsg=int(row.epsg),
                transform=tuple(float(v) for v in row.transform),  # type: ignore[arg-type]
                size=size,
                windows=tuple(zip(start[i], end[i], strict=True)),
            )
            out.append(Candidate(loc, int(row.slot), int(row.spare_rank)))
        return out


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


def _planned(cfg: CollectConfig, location: str) -> gpd.GeoDataFrame:
    """The plan of the plan folder ``location``, checked against ``cfg``'s plan settings.

    Raises:
        StoreMismatchError: the plan was made with other settings (one line, the first
            difference named).
    """
    from collector.plan.candidates import read_plan

    plan, info = read_plan(local_path(location) / PLAN_FILE)
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


def open_ledger(cfg: CollectConfig, location: str, synthetic: bool) -> Ledger:
    """Resume the store at ``location`` if it matches ``cfg``, else create it with its plan."""
    opts = cfg.storage_options
    identity = cfg.identity()
    half = is_half_created(location, opts)
    if _store_exists(location, opts) and not half:
        store = open_store(location, "r+", opts)
        diffs = config_differences(store.attrs.get("config", {}), identity)
        if diffs:
            keys = ", ".join(k for k, _, _ in diffs)
            key, was, now = diffs[0]
            raise StoreMismatchError(
                f"{location} holds another collection (differs in {keys}; e.g. {key} is "
                f"{was!r} in the store, {now!r} now): rerun with the same settings to resume, "
                "or choose another OUT"
            )
        raw = get_bytes(store.group.store, PLAN_FILE)
        plan = gpd.read_parquet(io.BytesIO(raw)) if raw else _write_plan(store, cfg)
        return Ledger(store, plan, created=False)
    _check_writable(location)
    planned: bytes | None = None
    if plan_folder(location):  # made by `plan` with these settings: continue from it
        plan = _planned(cfg, location)
        planned = (local_path(location) / PLAN_FILE).read_bytes()
        for name in PLAN_FOLDER_FILES:  # the store keeps the plan (put back below) and the map
            (local_path(location) / name).unlink(missing_ok=True)
    else:
        plan = make_plan(cfg.plan)  # plan first: a bad REGION leaves nothing behind
    store = create_store(
        location,
        _spec(cfg),
        source=cfg.source,
        synthetic=synthetic,
        config=identity,
        storage_options=opts,
        overwrite=half,  # an interrupted creation holds no data: start it again
        extra_attrs={"recipe": cfg.recipe} if cfg.recipe else None,
    )
    if planned is not None:
        put_bytes(store.group.store, PLAN_FILE, planned)  # the plan file as `plan` wrote it
    else:
        _put_plan(store, plan)
    return Ledger(store, plan, created=True)


def _write_plan(store: Store, cfg: CollectConfig) -> gpd.GeoDataFrame:
    plan = make_plan(cfg.plan)
    _put_plan(store, plan)
    return plan


def _put_plan(store: Store, plan: gpd.GeoDataFrame) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write_plan(plan, tmp)
        put_bytes(store.group.store, PLAN_FILE, path.read_bytes())


def write_report(store: Store, shard: int, report: dict[str, Any]) -> None:
    text = json.dumps(redact(report), sort_keys=True)  # source errors may quote signed URLs
    put_bytes(store.group.store, report_key(shard), text.encode())


def read_report(store: Store, shard: int) -> dict[str, Any] | None:
    """One shard's report, or ``None`` when it has none (or an unreadable one)."""
    raw = get_bytes(store.group.store, report_key(shard))
    try:
        report = json.loads(raw) if raw else None
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def read_reports(store: Store) -> list[dict[str, Any]]:
    """Reports of every shard that has one, in shard order."""
    done = store.done_shards()
    out = []
    for key in list_prefix(store.group.store, "reports/"):
        raw = get_bytes(store.group.store, key)
        if raw:
            rep = json.loads(raw)
            if done[int(rep["shard"])]:
                out.append(rep)
    return sorted(out, key=lambda r: r["shard"])
