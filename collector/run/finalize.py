"""Finalize a complete store: statistics, index, pictures, report, consolidated metadata.

Outputs inside the store: ``attrs["stats"]`` (per-band mean/std/p2/p98), ``index.parquet``
(GeoParquet, one row per sample), ``map.png``, ``preview.png``, ``report.json`` (every
rejection with its reason, retries, request counts), ``stac/collection.json`` (STAC
Collection); then ``verify`` must pass.
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import zarr

from collector.plan.pictures import location_map, season_preview
from collector.run.report import ShardReport
from shared.access.stats import compute_stats
from shared.checks.verify import verify
from shared.layout.bands import RGB
from shared.publish.stac import write_stac_collection
from shared.secrets import redact
from shared.store.handle import Store
from shared.store.reader import StoreReader

__all__ = ["finalize", "build_index", "summarize_reports", "Places"]


def build_index(
    store: Store, plan: gpd.GeoDataFrame, columns: dict[str, np.ndarray], live: np.ndarray
) -> gpd.GeoDataFrame:
    """One row per written sample: where, when, how clear, which scenes, its footprint."""
    cand = np.asarray(columns["candidate_id"], np.int64)
    rows = plan.set_index("candidate_id").loc[cand]
    frame = pd.DataFrame(
        {
            "sample": live.astype(np.int64),
            "candidate_id": cand,
            "lon": np.asarray(columns["lon"], np.float64),
            "lat": np.asarray(columns["lat"], np.float64),
            "epsg": np.asarray(columns["epsg"]).astype(np.int32),
            "city": rows["city"].to_numpy(),
            "country": rows["country"].to_numpy(),
        }
    )
    times = np.asarray(columns["time"], np.int64).astype("datetime64[ms]")
    clear = np.asarray(columns["clear_fraction"], np.float32)
    products = np.asarray(columns["product_id"])
    for s in range(store.spec.n_seasons):
        frame[f"time_{s}"] = times[:, s]
        frame[f"clear_fraction_{s}"] = clear[:, s]
        frame[f"product_id_{s}"] = [str(p) for p in products[:, s].tolist()]
    return gpd.GeoDataFrame(
        frame, geometry=gpd.GeoSeries(rows.geometry.to_numpy(), crs="EPSG:4326")
    ).rename_geometry("footprint")


def summarize_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over shard reports, with rejection reasons grouped by their kind."""
    rejected = [r for rep in reports for r in rep.get("rejected", [])]
    kinds = Counter(_reason_kind(r.get("reason", "")) for r in rejected)
    return {
        "shards": len(reports),
        "filled": sum(r["filled"] for r in reports),
        "slots": sum(r["slots"] for r in reports),
        "tried": sum(r["tried"] for r in reports),
        "rejected": sum(1 for r in rejected if r["outcome"] == "rejected"),
        "failed": sum(1 for r in rejected if r["outcome"] == "failed"),
        "bad_input": sum(1 for r in rejected if r["outcome"] == "bad input"),
        "requests": sum(r["requests"] for r in reports),
        "retries": sum(r["retries"] for r in reports),
        "transient_errors": sum(r["transient_errors"] for r in reports),
        "permanent_errors": sum(r["permanent_errors"] for r in reports),
        "retries_exhausted": sum(r["retries_exhausted"] for r in reports),
        "reasons": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
    }


def _reason_kind(reason: str) -> str:
    """``"season 2: best patch clear fraction 0.71 < 0.90"`` → ``"best patch clear fraction < threshold"``."""
    text = reason.split(": ", 1)[1] if reason.startswith("season ") else reason
    if "clear fraction" in text:
        return "fetched patch too cloudy" if "fetched" in text else "no scene clear enough"
    if text.startswith("bad input: "):  # "bad input: <location>: <problem> (<details>)"
        problem = re.sub(r"\s*\(.*\)$", "", text.split(": ", 2)[-1])
        return "bad input: " + problem[:60]
    if text.startswith("source error"):
        return "source error: " + text.split(": ", 2)[-1][:60]
    return text[:60]


def _pictures(store: Store, index: gpd.GeoDataFrame, tmp: Path) -> None:
    origin = "SYNTHETIC world (generated, not observed)" if store.synthetic else store.source
    location_map(
        index["lon"].to_numpy(),
        index["lat"].to_numpy(),
        np.full(len(index), "collected"),
        tmp / "map.png",
        f"{origin}: {len(index):,} locations, {store.spec.n_seasons} seasons",
    )
    if index.empty or "stats" not in store.attrs:
        return
    bands = [b for b in RGB if b in store.spec.bands] or list(store.spec.bands[:1]) * 3
    picks = index.iloc[np.unique(np.linspace(0, len(index) - 1, min(6, len(index))).astype(int))]
    with StoreReader(store) as reader:
        rgb = reader.pixels(picks["sample"].to_numpy(), bands=bands)
    times = np.stack(
        [picks[f"time_{s}"].to_numpy() for s in range(store.spec.n_seasons)], axis=1
    ).astype("datetime64[ms]")
    times = np.where(times.astype(np.int64) == np.iinfo(np.int64).min, np.datetime64("NaT"), times)
    labels = [f"{r.city} ({r.country})\n{r.lat:.2f}°, {r.lon:.2f}°" for r in picks.itertuples()]
    season_preview(
        rgb,
        times,
        labels,
        tmp / "preview.png",
        f"{origin}: RGB ({','.join(bands)}) of {len(picks)} locations across seasons",
    )


Places = Callable[[np.ndarray, dict[str, np.ndarray]], gpd.GeoDataFrame]


def _summaries_from_arrays(store: Store, shards: list[int]) -> None:
    """Write the summaries of finished shards written before summaries existed (from their
    arrays; no band sums)."""
    from shared.layout.native import BandImages
    from shared.store.manifests import read_manifest
    from shared.store.summary import shard_summary, write_summary
    from shared.store.writer import read_shard, to_time_ms

    for shard in shards:
        data = read_shard(store, shard)
        values = {
            "valid": data.valid,
            "candidate_id": data.candidate_id,
            "lon": data.lon,
            "lat": data.lat,
            "epsg": data.epsg,
            "transform": data.transform,
            "time": to_time_ms(data.time),
            "clear_fraction": data.clear_fraction,
            "product_id": np.asarray(data.product_id, dtype=str),
        }
        if isinstance(data.pixels, BandImages):  # layout 3: one array per resolution group
            values.update({f"pixels_{g}": a for g, a in data.pixels.arrays.items()})
        else:
            values["pixels"] = data.pixels
        manifest = read_manifest(store, shard) or {"objects": {}}
        objects = sorted({k.split("/", 1)[0] for k in manifest["objects"]})
        nbytes = sum(int(o["bytes"]) for o in manifest["objects"].values())
        write_summary(store, shard_summary(store, shard, values, objects, nbytes))


def _reports(store: Store, shards: Any) -> list[dict[str, Any]]:
    """Every finished shard's report (merged with its summary from ``reports/``)."""
    out = []
    for text in shards["report"].tolist():
        try:
            report = json.loads(text) if text else None
        except ValueError:
            continue
        if isinstance(report, dict) and "shard" in report:
            out.append(ShardReport.from_json(report).to_json())
    return out


def _plan_of(store: Store) -> gpd.GeoDataFrame:
    import io

    from collector.plan.candidates import PLAN_FILE

    raw = store.read_object(PLAN_FILE)
    if raw is None:
        raise RuntimeError(f"{store.location} has no {PLAN_FILE}; cannot index it")
    return gpd.read_parquet(io.BytesIO(raw))


def finalize(
    store: Store,
    log: Any = print,
    changed: set[int] | frozenset[int] = frozenset(),
    plan: gpd.GeoDataFrame | Places | None = None,
) -> dict[str, Any]:
    """Write the finishing outputs of a complete store and verify it; returns the report totals.

    Incremental: the per-shard summaries are merged once, reading only the shards not merged
    before or in ``changed`` (rewritten by this run); with nothing changed since the last
    finalize it returns the recorded totals at once. ``plan``: the collection's plan (read
    from the store when omitted), or for an import a function giving the places (candidate
    id, city, country, footprint) of the live samples from their columns.
    """
    from shared.store.merge import merge_summaries, save_merge
    from shared.store.summary import RECORD_ATTR, merged_record, sample_columns

    done = store.done_shards()
    if not done.all():
        pending = int((~done).sum())
        raise RuntimeError(f"{pending} shard(s) not done; rerun to resume before finalizing")
    record = merged_record(store, done)
    if record is not None and not changed and record.get("finalized"):
        log("nothing to finalize: no shard changed since the last finalize")
        return dict(record["report"])
    samples, shards, missing = merge_summaries(store, done, changed)
    if missing:
        _summaries_from_arrays(store, missing)
        samples, shards, missing = merge_summaries(store, done, set(changed) | set(missing))
    reports = _reports(store, shards)
    summary = summarize_reports(reports)
    store.update_attrs(collection_report={k: v for k, v in summary.items() if k != "reasons"})
    save_merge(store, done, samples, shards)
    live, columns = sample_columns(
        store,
        ("candidate_id", "lon", "lat", "epsg", "transform", "time", "clear_fraction", "product_id"),
    )
    if summary["filled"]:
        store.update_attrs(stats=compute_stats(store, live=live))
    else:
        log("warning: no location passed; see report.json for the reasons")
    if callable(plan):
        places = plan(live, columns)
    else:
        places = plan if plan is not None else _plan_of(store)
    index = build_index(store, places, columns, live)
    with tempfile.TemporaryDirectory() as tmp:
        index.to_parquet(Path(tmp) / "index.parquet", index=False, compression="zstd")
        _pictures(store, index, Path(tmp))
        for name in ("index.parquet", "map.png", "preview.png"):
            if (Path(tmp) / name).exists():
                store.write_object(name, (Path(tmp) / name).read_bytes())
    report = redact({"summary": summary, "shards": reports})
    store.write_object("report.json", json.dumps(report, indent=1, sort_keys=True).encode())
    write_stac_collection(store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata is not yet in the v3 spec
        zarr.consolidate_metadata(store.raw)
    result = verify(store.location, decode=False, storage_options=store.storage_options)
    if not result.ok:
        raise RuntimeError(f"verify failed after finalize: {result.problems[0]}")
    store.update_attrs(
        **{RECORD_ATTR: {**store.attrs[RECORD_ATTR], "finalized": True, "report": summary}}
    )
    log(
        f"done: {summary['filled']} of {summary['slots']} slots filled from {summary['tried']} candidates; "
        f"{summary['rejected']} rejected (clouds), {summary['failed']} failed (source errors), "
        + (f"{summary['bad_input']} rejected input(s), " if summary["bad_input"] else "")
        + f"{summary['retries']} retries"
    )
    for kind, count in list(summary["reasons"].items())[:5]:
        log(f"  rejected {count}×: {kind}")
    return summary
