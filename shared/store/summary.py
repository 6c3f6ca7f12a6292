"""Per-shard summaries, their merge, and the one rule for "which samples hold data".

Each finished shard leaves ``summaries/shard-NNNNNN.json`` beside its manifest, written by
:func:`~shared.store.writer.write_shard` before the done-marker. It describes the shard's
samples, not its image arrays: which slots hold data, candidate id, lon/lat, EPSG, transform,
per-season time, clear fraction and product id, per-band pixel sums keyed by band name, which
of the shard's arrays have objects.

Finalize merges them once into ``summaries/samples.parquet`` (one row per live sample) and
``summaries/shards.parquet`` (one row per finished shard) (:mod:`shared.store.merge`), and
records the merge in the root attribute ``samples_summary`` with a fingerprint of the
done-markers. :func:`live_samples` trusts that
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
    "read_column",
    "live_samples",
    "live_table",
    "sample_columns",
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


def _read_parquet(store: Store, key: str, columns: list[str] | None = None) -> Any:
    import pandas as pd

    raw = store.read_object(key)
    return None if raw is None else pd.read_parquet(io.BytesIO(raw), columns=columns)


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
