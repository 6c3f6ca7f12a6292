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
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import zarr

from collector.plan.pictures import location_map, season_preview
from collector.run.ledger import Ledger, read_reports
from shared.access.stats import compute_stats
from shared.access.view import sample_mask
from shared.checks.verify import verify
from shared.layout.bands import RGB
from shared.publish.stac import write_stac_collection
from shared.secrets import redact
from shared.store.handle import Store
from shared.store.location import put_bytes
from shared.store.reader import StoreReader

__all__ = ["finalize", "build_index", "summarize_reports"]


def _live(store: Store) -> np.ndarray:
    valid = np.asarray(store.array("valid")[:], bool)
    return np.flatnonzero(sample_mask(store.done_shards(), valid, store.spec.shard_samples))


def build_index(store: Store, plan: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per written sample: where, when, how clear, which scenes, its footprint."""
    live = _live(store)
    cand = np.asarray(store.array("candidate_id")[:])[live]
    rows = plan.set_index("candidate_id").loc[cand]
    frame = pd.DataFrame(
        {
            "sample": live.astype(np.int64),
            "candidate_id": cand,
            "lon": np.asarray(store.array("lon")[:])[live],
            "lat": np.asarray(store.array("lat")[:])[live],
            "epsg": np.asarray(store.array("epsg")[:])[live],
            "city": rows["city"].to_numpy(),
            "country": rows["country"].to_numpy(),
        }
    )
    times = np.asarray(store.array("time")[:])[live].astype("datetime64[ms]")
    clear = np.asarray(store.array("clear_fraction")[:])[live]
    products = np.asarray(store.array("product_id")[:])[live]
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


def _pictures(store: Store, plan: gpd.GeoDataFrame, index: gpd.GeoDataFrame, tmp: Path) -> None:
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
    times = np.asarray(store.array("time")[:])[picks["sample"].to_numpy()].astype("datetime64[ms]")
    times = np.where(times.astype(np.int64) == np.iinfo(np.int64).min, np.datetime64("NaT"), times)
    labels = [f"{r.city} ({r.country})\n{r.lat:.2f}°, {r.lon:.2f}°" for r in picks.itertuples()]
    season_preview(
        rgb,
        times,
        labels,
        tmp / "preview.png",
        f"{origin}: RGB ({','.join(bands)}) of {len(picks)} locations across seasons",
    )


def finalize(ledger: Ledger, log: Any = print) -> dict[str, Any]:
    """Write the finishing outputs of a complete store and verify it; returns the report totals."""
    store = ledger.store
    pending = store.pending_shards()
    if pending:
        raise RuntimeError(f"{len(pending)} shard(s) not done; rerun to resume before finalizing")
    summary = summarize_reports(read_reports(store))
    store.update_attrs(collection_report={k: v for k, v in summary.items() if k != "reasons"})
    if summary["filled"]:
        store.update_attrs(stats=compute_stats(store))
    else:
        log("warning: no location passed; see report.json for the reasons")
    index = build_index(store, ledger.plan)
    zstore = store.group.store
    with tempfile.TemporaryDirectory() as tmp:
        index.to_parquet(Path(tmp) / "index.parquet", index=False, compression="zstd")
        _pictures(store, ledger.plan, index, Path(tmp))
        for name in ("index.parquet", "map.png", "preview.png"):
            if (Path(tmp) / name).exists():
                put_bytes(zstore, name, (Path(tmp) / name).read_bytes())
    report = redact({"summary": summary, "shards": read_reports(store)})
    put_bytes(zstore, "report.json", json.dumps(report, indent=1, sort_keys=True).encode())
    write_stac_collection(store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated metadata is not yet in the v3 spec
        zarr.consolidate_metadata(zstore)
    result = verify(store.location, decode=False, storage_options=store.storage_options)
    if not result.ok:
        raise RuntimeError(f"verify failed after finalize: {result.problems[0]}")
    log(
        f"done: {summary['filled']} of {summary['slots']} slots filled from {summary['tried']} candidates; "
        f"{summary['rejected']} rejected (clouds), {summary['failed']} failed (source errors), "
        + (f"{summary['bad_input']} rejected input(s), " if summary["bad_input"] else "")
        + f"{summary['retries']} retries"
    )
    for kind, count in list(summary["reasons"].items())[:5]:
        log(f"  rejected {count}×: {kind}")
    return summary
