"""``info``: a short summary of a store, as text or JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shared.access.view import sample_mask
from shared.errors import NotAStoreError, OutsideFileError
from shared.outside import checked_attrs, safe_text
from shared.store.handle import open_store
from shared.store.location import is_url, local_path
from shared.store.manifests import DamagedShardError
from shared.store.summary import merged_record, read_column, sample_columns

__all__ = ["summarize", "format_summary", "plan_summary"]


def _disk_bytes(location: str, record: dict[str, Any] | None = None) -> int | None:
    """Bytes of a local store: with a current merge (``record``), its arrays' objects as
    recorded plus the files at the root (no walk over every object); else every file."""
    if is_url(location):
        return None
    if record is not None and "array_bytes" in record:
        with os.scandir(local_path(location)) as entries:
            side = sum(e.stat().st_size for e in entries if e.is_file(follow_symlinks=False))
        return int(record["array_bytes"]) + side
    total = 0
    stack = [str(local_path(location))]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def summarize(
    location: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Facts about a store: source (synthetic or observed), shape, progress, coverage, size;
    for a plan folder (``python -m collector plan --out``), what was planned
    (:func:`plan_summary`)."""
    plan = plan_summary(location)
    if plan is not None:
        return plan
    store = open_store(location, "r", storage_options)
    attrs = checked_attrs(store)
    spec = store.spec
    done = store.done_shards()
    try:
        try:
            live_idx, cols = sample_columns(store, ("lon", "lat", "time"))
        except DamagedShardError:  # info describes a damaged store too (verify names the damage)
            valid = read_column(store, "valid").astype(bool)
            live_idx = np.flatnonzero(sample_mask(done, valid, spec.shard_samples))
            cols = {n: read_column(store, n)[live_idx] for n in ("lon", "lat", "time")}
    except Exception as e:  # a chunk no codec can read: one line naming it, not a traceback
        raise OutsideFileError(
            str(store.location),
            f"unreadable arrays ({type(e).__name__}: {safe_text(e, 80)}); "
            "run python -m shared verify for the damage",
        ) from e
    live = np.zeros(spec.n_samples, bool)
    live[live_idx] = True
    out: dict[str, Any] = {
        "location": str(location),
        "title": attrs.get("title"),
        "layout_version": attrs.get("layout_version"),
        "source": store.source,
        "synthetic": store.synthetic,
        "collection": spec.collection,
        "bands": list(spec.bands),
        "patch_size": spec.size,
        "resolution_m": spec.resolution_m,
        "seasons": spec.n_seasons,
        "slots": spec.n_samples,
        "samples": int(live.sum()),
        "shard_samples": spec.shard_samples,
        "shards_done": int(done.sum()),
        "shards_total": spec.n_shards,
        "complete": bool(done.all()),
        "has_stats": "stats" in attrs,
        "imported_from": (attrs.get("imported_from") or {}).get("dataset"),
        "software": attrs.get("software"),
    }
    if live.any():
        lon, lat, t = cols["lon"], cols["lat"], np.asarray(cols["time"], np.int64)
        t = t[t != np.iinfo(np.int64).min].astype("datetime64[ms]")
        out["lon_range"] = [float(lon.min()), float(lon.max())]
        out["lat_range"] = [float(lat.min()), float(lat.max())]
        if t.size:
            out["time_range"] = [
                str(t.min().astype("datetime64[s]")),
                str(t.max().astype("datetime64[s]")),
            ]
    size = _disk_bytes(str(location), merged_record(store, done))
    if size is not None:
        out["bytes_on_disk"] = size
        raw = int(live.sum()) * spec.n_seasons * spec.n_bands * spec.size**2 * 2
        if raw:
            out["bytes_per_raw_byte"] = round(size / raw, 4)
    return out


def plan_summary(location: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What a plan folder holds (``kind: "plan"``), or None when ``location`` is not one: a
    local folder without ``zarr.json`` holding a ``plan.parquet`` written by
    ``python -m collector plan`` (read from its metadata, without loading the plan)."""
    import json

    import pyarrow.parquet as pq

    text = str(location)
    if "://" in text:
        return None
    root = Path(text)
    plan = root / "plan.parquet"
    if (root / "zarr.json").exists() or not plan.is_file():
        return None
    try:
        meta = pq.read_schema(plan).metadata or {}
        info = json.loads(meta[b"seco_plan"])
        rows = pq.read_metadata(plan).num_rows
    except (OSError, KeyError, ValueError) as e:
        raise NotAStoreError(
            f"{location} is not a store, and its plan.parquet is unreadable: {e}"
        ) from e
    cfg = info.get("config", {}) if isinstance(info, dict) else {}
    return {
        "kind": "plan",
        "location": text,
        "locations": cfg.get("n"),
        "candidates": int(rows),
        "region": info.get("region_label"),
        "config": cfg,
        "recipe": (info.get("recipe") or {}).get("name")
        if isinstance(info.get("recipe"), dict)
        else None,
    }


def _format_plan(info: dict[str, Any]) -> str:
    cfg = info["config"]
    return "\n".join(
        [
            f"plan       {info['location']} (a store in the making: no data yet)",
            f"planned    {info['locations']} locations ({info['candidates']} candidates with "
            f"spares) in {info['region']}",
            f"settings   seed {cfg.get('seed')}, {cfg.get('size')} px, {cfg.get('seasons')} "
            f"seasons, shards of {cfg.get('shard_samples')}"
            + (f", recipe {info['recipe']}" if info.get("recipe") else ""),
            f"next       python -m collector collect --out {info['location']} with the same "
            "settings (and a --source) continues from this plan",
        ]
    )


def format_summary(info: dict[str, Any]) -> str:
    """Human-readable lines of :func:`summarize`'s result."""
    if info.get("kind") == "plan":
        return _format_plan(info)
    lines = [f"store      {info['location']}"]
    if info["synthetic"]:
        lines.append("source     SYNTHETIC (generated by the synthetic world, not observed data)")
    elif info.get("imported_from"):
        lines.append(
            f"source     imported from {info['imported_from']} (see the card's Provenance)"
        )
    else:
        lines.append(f"source     {info['source']}")
    lines += [
        f"layout     version {info['layout_version']}, {info['software']}",
        f"data       {info['collection']}, {len(info['bands'])} bands ({', '.join(info['bands'])}), "
        f"{info['patch_size']}x{info['patch_size']} px at {info['resolution_m']:g} m, "
        f"{info['seasons']} seasons",
        f"samples    {info['samples']} of {info['slots']} slots; shards {info['shards_done']}/"
        f"{info['shards_total']} done ({'complete' if info['complete'] else 'INCOMPLETE'})",
    ]
    if "lon_range" in info:
        lines.append(
            f"coverage   lon {info['lon_range'][0]:.3f}..{info['lon_range'][1]:.3f}, "
            f"lat {info['lat_range'][0]:.3f}..{info['lat_range'][1]:.3f}"
        )
    if "time_range" in info:
        lines.append(f"time       {info['time_range'][0]} .. {info['time_range'][1]}")
    if "bytes_on_disk" in info:
        ratio = (
            f" ({info['bytes_per_raw_byte']:.2f} of raw uint16)"
            if "bytes_per_raw_byte" in info
            else ""
        )
        lines.append(f"disk       {info['bytes_on_disk'] / 2**20:.1f} MiB{ratio}")
    lines.append(f"stats      {'present' if info['has_stats'] else 'not yet computed (finalize)'}")
    return "\n".join(safe_text(line) for line in lines)  # metadata never reaches a terminal raw
