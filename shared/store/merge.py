"""Merging the per-shard summaries (:mod:`shared.store.summary`) into two tables.

Finalize merges them into ``summaries/samples.parquet`` (one row per live sample) and
``summaries/shards.parquet`` (one row per finished shard, with its writer's report from
``reports/``), reading only the summaries and reports of shards that changed since the last
merge, a bounded batch at a time, and records the merge in the root attribute
``samples_summary`` with a fingerprint of the done-markers (:func:`save_merge`).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from shared.store.handle import Store
from shared.store.manifests import report_key
from shared.store.summary import (
    RECORD_ATTR,
    SAMPLES_KEY,
    SHARDS_KEY,
    SUMMARY_FORMAT,
    _read_parquet,
    done_fingerprint,
    read_summaries,
)

__all__ = ["MERGE_BATCH", "SAMPLE_COLUMNS", "merge_summaries", "save_merge"]


def _untimed(raw: bytes | None) -> str:
    """A shard report as JSON without its timing, so that the merge of a rewritten store is
    byte-identical to the original's (``reports/`` keeps the timings)."""
    try:
        report = json.loads(raw) if raw else None
    except ValueError:
        report = None
    if isinstance(report, dict):
        report.pop("seconds", None)
    return json.dumps(report, sort_keys=True)


def _parquet(frame: Any) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, compression="zstd")
    return buf.getvalue()


def _rows(summary: dict[str, Any], n_seasons: int) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {
        k: list(summary[k]) for k in ("samples", "candidate_id", "lon", "lat", "epsg")
    }
    for j in range(6):
        cols[f"transform_{j}"] = [t[j] for t in summary["transform"]]
    for s in range(n_seasons):
        cols[f"time_{s}"] = [row[s] for row in summary["time"]]
        cols[f"clear_fraction_{s}"] = [row[s] for row in summary["clear_fraction"]]
        cols[f"product_id_{s}"] = [row[s] for row in summary["product_id"]]
    return cols


#: shards whose summaries are parsed together while merging (bounds the merge's memory)
MERGE_BATCH = 2048


def _merge_batch(store: Store, batch: list[int], seasons: int) -> tuple[Any, Any, list[int]]:
    """``(samples, shards, missing)`` tables of one batch of shards' summaries."""
    import pandas as pd

    got = read_summaries(store, batch)
    reports = store.read_objects([report_key(s) for s in batch])
    missing = [s for s, v in got.items() if v is None]
    columns: dict[str, list[Any]] = {}
    shard_rows: list[dict[str, Any]] = []
    for s in batch:
        summary = got[s]
        if summary is None:
            continue
        for name, values in _rows(summary, seasons).items():
            columns.setdefault(name, []).extend(values)
        shard_rows.append(
            {
                "shard": s,
                "filled": len(summary["samples"]),
                "slots": int(summary["slots"]),
                "objects": json.dumps(summary["objects"]),
                "band_sums": json.dumps(summary["band_sums"]),
                "bytes": int(summary.get("bytes", 0)),
                "report": _untimed(reports.get(report_key(s))),
            }
        )
    if not shard_rows:
        return None, None, missing
    return _typed(pd.DataFrame(columns)), pd.DataFrame(shard_rows), missing


def _typed(frame: Any) -> Any:
    """The sample table with fixed column types, the same whichever batch a value came from
    (a batch whose clear fractions are all missing would otherwise be an object column)."""
    ints = ("samples", "candidate_id", "epsg")
    for name in frame.columns:
        if name in ints or name.startswith("time_"):
            frame[name] = frame[name].astype(np.int64)
        elif not name.startswith("product_id_"):
            frame[name] = frame[name].astype(np.float64)
    return frame


def merge_summaries(
    store: Store, done: np.ndarray, changed: set[int] | frozenset[int] = frozenset()
) -> tuple[Any, Any, list[int]]:
    """Merge the summaries of finished shards; ``changed``: shards rewritten since the last
    merge. Only the summaries not merged before (or changed) are read.

    Returns ``(samples, shards, missing)``: one row per live sample, one per finished shard,
    and the finished shards without a summary (written before summaries existed).
    """
    import pandas as pd

    finished = [int(s) for s in np.flatnonzero(done)]
    old_samples = old_shards = None
    record = store.attrs.get(RECORD_ATTR)
    if isinstance(record, dict):
        old_shards = _read_parquet(store, SHARDS_KEY)
        old_samples = _read_parquet(store, SAMPLES_KEY)
        changed = set(changed) | {int(s) for s in record.get("dirty") or []}
    keep: set[int] = set()
    if old_shards is not None and old_samples is not None:
        keep = set(old_shards["shard"].tolist()) & set(finished) - set(changed)
    todo = [s for s in finished if s not in keep]
    missing: list[int] = []
    seasons = store.spec.n_seasons
    sample_parts: list[Any] = []
    shard_parts: list[Any] = []
    for i in range(0, len(todo), MERGE_BATCH):  # bounded memory: one batch parsed at a time
        part, shards_part, gone = _merge_batch(store, todo[i : i + MERGE_BATCH], seasons)
        missing.extend(gone)
        if part is not None:
            sample_parts.append(part)
            shard_parts.append(shards_part)
    new_samples = pd.concat(sample_parts, ignore_index=True) if sample_parts else None
    new_shards = pd.concat(shard_parts, ignore_index=True) if shard_parts else None
    if keep and old_samples is not None and old_shards is not None:
        k = store.spec.shard_samples
        old_samples = old_samples[np.isin(old_samples["samples"].to_numpy() // k, list(keep))]
        old_shards = old_shards[old_shards["shard"].isin(keep)]
        frames = [f for f in (old_samples, new_samples) if f is not None]
        shard_frames = [f for f in (old_shards, new_shards) if f is not None]
    else:
        frames = [new_samples] if new_samples is not None else []
        shard_frames = [new_shards] if new_shards is not None else []
    samples = (
        pd.concat(frames, ignore_index=True)
        if frames
        else _typed(pd.DataFrame(_rows(_EMPTY, seasons)))
    )
    shards = (
        pd.concat(shard_frames, ignore_index=True)
        if shard_frames
        else pd.DataFrame(
            {c: [] for c in ("shard", "filled", "slots", "objects", "band_sums", "bytes", "report")}
        )
    )
    samples = samples.sort_values("samples", kind="stable").reset_index(drop=True)
    shards = shards.sort_values("shard", kind="stable").reset_index(drop=True)
    return samples, shards, missing


#: the per-sample columns of the merged summary (besides ``samples``, the sample index)
SAMPLE_COLUMNS = (
    "candidate_id",
    "lon",
    "lat",
    "epsg",
    "transform",
    "time",
    "clear_fraction",
    "product_id",
)
_EMPTY: dict[str, Any] = {k: [] for k in ("samples", *SAMPLE_COLUMNS)}  # no samples


def save_merge(store: Store, done: np.ndarray, samples: Any, shards: Any) -> dict[str, Any]:
    """Store the merged tables and their record (fingerprint of ``done``); returns the record."""
    totals: dict[str, dict[str, int]] = {}
    for text in shards["band_sums"].tolist():
        for band, v in json.loads(text).items():
            t = totals.setdefault(band, {"count": 0, "sum": 0, "sumsq": 0})
            for key in t:
                t[key] += int(v[key])
    store.write_object(SAMPLES_KEY, _parquet(samples))
    store.write_object(SHARDS_KEY, _parquet(shards))
    record = {
        "format": SUMMARY_FORMAT,
        "done": done_fingerprint(done),
        "shards": int(len(shards)),
        "samples": int(len(samples)),
        "array_bytes": int(shards["bytes"].sum()) if len(shards) else 0,
        "band_sums": totals,
    }
    store.update_attrs(**{RECORD_ATTR: record})
    return record
