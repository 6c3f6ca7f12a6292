"""Per-shard summaries, their merge, and the one rule for "which samples hold data".

Each finished shard leaves ``summaries/shard-NNNNNN.json`` beside its manifest, written by
:func:`~shared.store.writer.write_shard` before the done-marker. It describes the shard's
samples, not its image arrays: which slots hold data, candidate id, lon/lat, EPSG, transform,
per-season time, clear fraction and product id, per-band pixel sums keyed by band name, which
of the shard's arrays have objects.

Finalize merges them once into ``summaries/samples.parquet`` (one row per live sample) and
``summaries/shards.parquet`` (one row per finished shard, with its writer's report from
``reports/``), reading only the summaries and reports of
shards that changed since the last merge, and records the merge in the root attribute
``samples_summary`` with a fingerprint of the done-markers. :func:`live_samples` trusts that
record while the fingerprint matches (one listing of the markers, one small read) and checks
for deleted objects without reading a manifest; otherwise it falls back to the manifests.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Any

import numpy as np

from shared.store.handle import Store
from shared.store.location import is_url, local_path
from shared.store.manifests import (
    DamagedShardError,
    damage_message,
    group_doc,
    missing_objects,
    report_key,
    shard_keys,
)

__all__ = [
    "SUMMARY_PREFIX",
    "SAMPLES_KEY",
    "SHARDS_KEY",
    "RECORD_ATTR",
    "summary_key",
    "shard_summary",
    "write_summary",
    "read_summaries",
    "done_fingerprint",
    "merged_record",
    "merge_summaries",
    "read_column",
    "live_samples",
    "live_table",
    "sample_columns",
    "SAMPLE_COLUMNS",
    "save_merge",
    "drop_record",
]

SUMMARY_PREFIX = "summaries/"
SAMPLES_KEY = f"{SUMMARY_PREFIX}samples.parquet"
SHARDS_KEY = f"{SUMMARY_PREFIX}shards.parquet"
RECORD_ATTR = "samples_summary"
SUMMARY_FORMAT = 1
_GROUP_DOC = group_doc("per-shard summaries and their merge (finalize)")


def summary_key(shard: int) -> str:
    """``summaries/shard-000003.json``."""
    return f"{SUMMARY_PREFIX}shard-{int(shard):06d}.json"


def _floats(a: np.ndarray) -> list[Any]:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, np.float64).ravel()]


def _band_pixels(spec: Any, values: dict[str, np.ndarray], slots: np.ndarray, b: int) -> np.ndarray:
    """(n, seasons, H, W) pixels of band ``b`` in ``slots``: from ``pixels`` (layouts 1–2) or
    from its resolution group's ``pixels_<group>`` at its native size (layout 3)."""
    if "pixels" in values:
        return np.asarray(values["pixels"])[slots][:, :, b]
    band = spec.bands[b]
    for group, names in spec.groups.items():
        if band in names:
            return np.asarray(values[f"pixels_{group}"])[slots][:, :, names.index(band)]
    raise KeyError(band)  # pragma: no cover - every band has a group


def shard_summary(
    store: Store,
    shard: int,
    values: dict[str, np.ndarray],
    objects: list[str],
    nbytes: int = 0,
) -> dict[str, Any]:
    """The summary of one shard from the values the writer stores (``time`` in int64 ms).

    ``objects``: the arrays of the shard that have an object (its manifest's arrays);
    ``nbytes``: their size in bytes.
    """
    spec = store.spec
    valid = np.asarray(values["valid"], bool)
    slots = np.flatnonzero(valid)
    first = spec.shard_slice(shard).start
    sums: dict[str, dict[str, int]] = {}
    for b, band in enumerate(spec.bands):
        px = _band_pixels(spec, values, slots, b).astype(np.float64)
        has = px > 0
        sums[band] = {
            "count": int(has.sum()),
            "sum": int(px[has].sum()),
            "sumsq": int((px[has] ** 2).sum()),
        }
    return {
        "format": SUMMARY_FORMAT,
        "shard": int(shard),
        "slots": int(valid.size),
        "samples": [int(first + s) for s in slots],
        "candidate_id": [int(v) for v in np.asarray(values["candidate_id"])[slots]],
        "lon": _floats(np.asarray(values["lon"])[slots]),
        "lat": _floats(np.asarray(values["lat"])[slots]),
        "epsg": [int(v) for v in np.asarray(values["epsg"])[slots]],
        "transform": [_floats(t) for t in np.asarray(values["transform"])[slots]],
        "time": [[int(t) for t in row] for row in np.asarray(values["time"])[slots]],
        "clear_fraction": [_floats(r) for r in np.asarray(values["clear_fraction"])[slots]],
        "product_id": [[str(p) for p in row] for row in np.asarray(values["product_id"])[slots]],
        "band_sums": sums,
        "objects": sorted(objects),
        "bytes": int(nbytes),
    }


def write_summary(store: Store, summary: dict[str, Any]) -> None:
    """Store one shard's summary (the writer calls this before the done-marker)."""
    if store.read_object(SUMMARY_PREFIX + "zarr.json") != _GROUP_DOC:
        store.write_object(SUMMARY_PREFIX + "zarr.json", _GROUP_DOC)
    store.write_object(summary_key(summary["shard"]), json.dumps(summary).encode())


def read_summaries(store: Store, shards: list[int]) -> dict[int, dict[str, Any] | None]:
    """Summaries of ``shards`` (``None`` where absent or unreadable), read concurrently."""
    raw = store.read_objects([summary_key(s) for s in shards])
    out: dict[int, dict[str, Any] | None] = {}
    for s in shards:
        data = raw.get(summary_key(s))
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        out[s] = parsed if isinstance(parsed, dict) and "samples" in parsed else None
    return out


def done_fingerprint(done: np.ndarray) -> str:
    """A short fingerprint of the done-marker mask."""
    return hashlib.sha256(np.packbits(np.asarray(done, bool)).tobytes()).hexdigest()[:32]


def merged_record(store: Store, done: np.ndarray | None = None) -> dict[str, Any] | None:
    """The record of the last merge when it still describes the store (same done-markers)."""
    record = store.attrs.get(RECORD_ATTR)
    if not isinstance(record, dict):
        return None
    done = store.done_shards() if done is None else done
    return record if record.get("done") == done_fingerprint(done) else None


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


def _read_parquet(store: Store, key: str, columns: list[str] | None = None) -> Any:
    import pandas as pd

    raw = store.read_object(key)
    return None if raw is None else pd.read_parquet(io.BytesIO(raw), columns=columns)


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


def drop_record(store: Store, shards: list[int] | None = None) -> None:
    """Before ``shards`` are (re)written: nobody trusts the merge until the next one, which
    reads those shards again (they are kept as ``dirty``; ``None``: forget the merge)."""
    record = store.attrs.get(RECORD_ATTR)
    if not isinstance(record, dict):
        return
    if shards is None:
        store.update_attrs(**{RECORD_ATTR: None})
        return
    dirty = sorted(set(record.get("dirty") or []) | {int(s) for s in shards})
    store.update_attrs(
        **{RECORD_ATTR: {**record, "done": None, "finalized": False, "dirty": dirty}}
    )


def _direct_layout(array: Any) -> tuple[np.dtype, tuple[int, ...], Any] | None:
    """``(dtype, chunk shape, decoder)`` of a per-sample array stored as bytes + zstd."""
    meta = array.metadata.to_dict()
    codecs = [c["name"] for c in meta.get("codecs", [])]
    keys = meta.get("chunk_key_encoding", {})
    if codecs not in (["bytes", "zstd"], ["bytes"]) or keys.get("name") != "default":
        return None
    if keys.get("configuration", {}).get("separator", "/") != "/":
        return None
    endian = meta["codecs"][0].get("configuration", {}).get("endian", "little")
    try:
        dtype = np.dtype(array.dtype).newbyteorder("<" if endian == "little" else ">")
    except TypeError:
        return None
    if dtype.kind not in "biuf":
        return None
    chunk = tuple(int(c) for c in meta["chunk_grid"]["configuration"]["chunk_shape"])
    if len(codecs) == 1:
        return dtype, chunk, None
    from numcodecs import Zstd

    return dtype, chunk, Zstd()


def read_column(store: Store, name: str, shards: list[int] | None = None) -> np.ndarray:
    """A per-sample array (``valid``, ``lon``, ``time``, …) whole, or the samples of ``shards``
    (concatenated in the given order): its chunk objects read concurrently and decoded
    directly; zarr-python reads it where the codecs are not the store's own."""
    array = store.array(name)
    k = store.spec.shard_samples
    wanted = list(range(store.spec.n_shards)) if shards is None else [int(s) for s in shards]
    layout = _direct_layout(array)
    if layout is None or layout[1][0] != k:
        if shards is None:
            return np.asarray(array[:])
        return np.concatenate(
            [np.asarray(array[store.spec.shard_slice(s)]) for s in wanted]
            or [np.zeros((0, *array.shape[1:]), array.dtype)]
        )
    dtype, chunk, zstd = layout
    tail = "/0" * (len(array.shape) - 1)
    raw = store.read_objects([f"{name}/c/{s}{tail}" for s in wanted])
    fill = array.fill_value
    out = []
    for s in wanted:
        sl = store.spec.shard_slice(s)
        data = raw[f"{name}/c/{s}{tail}"]
        if data is None:
            block = np.full((sl.stop - sl.start, *array.shape[1:]), fill, dtype=dtype)
        else:
            body = zstd.decode(data) if zstd is not None else data
            block = np.frombuffer(body, dtype).reshape(chunk)[: sl.stop - sl.start]
        out.append(block)
    if not out:
        return np.zeros((0, *array.shape[1:]), dtype)
    return np.concatenate(out).astype(dtype.newbyteorder("="), copy=False)


def _objects_missing(store: Store, shards: Any) -> list[tuple[int, str]]:
    """``(shard, key)`` of objects the merged shards list that no longer exist: locally one
    listing per array of flat keys and one stat (by a few threads) per nested key; one
    listing of an object store."""
    by_array: dict[str, list[int]] = {}
    for shard, objects in zip(shards["shard"].tolist(), shards["objects"].tolist(), strict=True):
        for name in json.loads(objects):
            by_array.setdefault(name, []).append(int(shard))
    pattern = dict(_key_pattern(store))
    expected = [(s, pattern[name].format(s)) for name, listed in by_array.items() for s in listed]
    if not expected:
        return []
    if is_url(store.location):  # one listing per array, all at once
        prefixes = [pattern[name].split("{}", 1)[0] for name in by_array]
        present = {k for keys in store.list_many(prefixes).values() for k in keys}
        return [(s, k) for s, k in expected if k not in present]
    root = str(local_path(store.location)) + os.sep
    missing: list[tuple[int, str]] = []
    nested: list[tuple[int, str]] = []
    for name, listed in by_array.items():
        if pattern[name].endswith("/c/{}"):  # flat keys: one listing of the folder
            folder = root + pattern[name][: -len("{}")]
            have = set(os.listdir(folder)) if os.path.isdir(folder) else set()
            missing.extend((s, pattern[name].format(s)) for s in listed if str(s) not in have)
        else:
            nested.extend((s, pattern[name].format(s)) for s in listed)
    paths = [root + k for _, k in nested]
    from concurrent.futures import ThreadPoolExecutor

    step = 4096
    with ThreadPoolExecutor(4) as pool:  # stat releases the GIL
        found = pool.map(
            lambda i: [os.path.isfile(p) for p in paths[i : i + step]], range(0, len(paths), step)
        )
        present_flags = [f for part in found for f in part]
    missing.extend(e for e, ok in zip(nested, present_flags, strict=True) if not ok)
    return sorted(missing)


_KEY_CACHE: dict[tuple[str, int], list[tuple[str, str]]] = {}


def _key_pattern(store: Store) -> list[tuple[str, str]]:
    """``(array, key with {} for the shard)`` of each array object of a shard."""
    pattern = _KEY_CACHE.get((store.location, store.spec.n_samples))
    if pattern is None:
        pattern = [(n, k.replace("/c/0", "/c/{}", 1)) for n, k in shard_keys(store, 0).items()]
        _KEY_CACHE[(store.location, store.spec.n_samples)] = pattern
    return pattern


def _keys(store: Store, shard: int) -> list[tuple[str, str]]:
    """``(array, key)`` of each array object of a shard."""
    return [(n, k.format(shard)) for n, k in _key_pattern(store)]


def live_table(store: Store, columns: list[str] | None = None) -> Any | None:
    """The merged per-sample table (columns ``samples``, ``lon``, ``lat``, …) while its record
    still describes the store, else ``None``."""
    if merged_record(store) is None:
        return None
    return _read_parquet(store, SAMPLES_KEY, columns)


#: per-sample arrays :func:`sample_columns` serves, with their seasons split in the table
_PER_SEASON = ("time", "clear_fraction", "product_id")


def sample_columns(
    store: Store, names: tuple[str, ...] | list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(live samples, {name: values of the live samples})`` for per-sample arrays
    (``lon``, ``lat``, ``epsg``, ``transform``, ``candidate_id``, ``time``,
    ``clear_fraction``, ``product_id``): from the merged table while it is current (one
    small read), else from the arrays (the finished shards' chunks only)."""
    table = live_table(store)
    seasons = store.spec.n_seasons
    out: dict[str, np.ndarray] = {}
    if table is not None:
        live = np.asarray(table["samples"].to_numpy(), np.int64)
        for name in names:
            if name in _PER_SEASON:
                cols = [table[f"{name}_{s}"].to_numpy() for s in range(seasons)]
                out[name] = np.stack(cols, axis=1) if cols else np.zeros((live.size, 0))
            elif name == "transform":
                out[name] = np.stack(
                    [table[f"transform_{j}"].to_numpy(np.float64) for j in range(6)], axis=1
                )
            else:
                out[name] = table[name].to_numpy()
        if "time" in out:
            out["time"] = out["time"].astype(np.int64)
        if "product_id" in out:
            out["product_id"] = out["product_id"].astype(str)
        return live, out
    live = live_samples(store)
    k = store.spec.shard_samples
    shards = [int(s) for s in np.unique(live // k)]
    first = np.array([store.spec.shard_slice(s).start for s in shards], np.int64)
    offsets = (
        np.concatenate(
            [
                [0],
                np.cumsum(
                    [store.spec.shard_slice(s).stop - f for s, f in zip(shards, first, strict=True)]
                ),
            ]
        )
        if shards
        else np.zeros(1, np.int64)
    )
    pos = (
        offsets[np.searchsorted(first, live, side="right") - 1]
        + live
        - first[np.searchsorted(first, live, side="right") - 1]
        if live.size
        else np.zeros(0, np.int64)
    )
    for name in names:
        if name == "product_id":
            values = np.asarray(store.array(name)[:])[live].astype(str)
        else:
            values = read_column(store, name, shards)[pos]
        out[name] = values
    return live, out


def live_samples(store: Store, done: np.ndarray | None = None) -> np.ndarray:
    """Indices of samples that hold data in finished shards, refusing a damaged store.

    The one rule, used by finalize, the card, the importer, the trainer and the evaluations.
    With a current merge (see the module) this costs one listing of the done-markers, one
    small read and a presence check of the finished shards' objects; otherwise every finished
    shard's manifest is read.

    Raises:
        DamagedShardError: a finished shard lacks an object its manifest lists (for example
            its ``valid`` chunk, which would otherwise read as "no samples here").
    """
    from shared.store.manifests import Damage

    done = store.done_shards() if done is None else done
    if merged_record(store, done) is not None:
        shards = _read_parquet(store, SHARDS_KEY, ["shard", "objects"])
        samples = _read_parquet(store, SAMPLES_KEY, ["samples"])
        if shards is not None and samples is not None:
            gone = _objects_missing(store, shards)
            if gone:
                damage = [Damage(s, k.split("/", 1)[0], k, "missing") for s, k in gone]
                raise DamagedShardError(damage_message(store, damage))
            return np.asarray(samples["samples"].to_numpy(), np.int64)
    damage = missing_objects(store, done)
    if damage:
        raise DamagedShardError(damage_message(store, damage))
    valid = read_column(store, "valid").astype(bool)
    shard_of = np.arange(valid.size) // store.spec.shard_samples
    return np.flatnonzero(valid & done[shard_of])
