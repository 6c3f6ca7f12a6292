"""``verify``: is a store valid and complete? Every problem is listed, one line each."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.errors import LayoutVersionError, StoreError, format_ranges
from shared.layout.array_names import image_arrays, shard_arrays
from shared.layout.arrays import array_defs
from shared.store.handle import Store, open_store
from shared.store.manifests import find_damage, unfilled_after_source_errors
from shared.store.reader import ChunkReadError, StoreReader
from shared.store.summary import read_column

__all__ = ["VerifyReport", "verify", "format_ranges"]


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`: ``problems`` make the store invalid, ``notes`` do not."""

    location: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    location: str | os.PathLike[str],
    decode: bool = True,
    storage_options: dict[str, Any] | None = None,
    progress: bool = False,
) -> VerifyReport:
    """As :func:`_verify`; zarr's warnings about objects that are not part of the hierarchy
    (the ``*.partial`` temporaries of writes killed mid-way, in a half-written store) become
    one note instead of a warning each. ``progress`` shows the decode pass
    (:func:`shared.progress.progress`, on stderr)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = _verify(location, decode, storage_options, progress)
    strays = sorted(
        {
            str(w.message).split("Object at ", 1)[-1].split(" is not", 1)[0]
            for w in caught
            if "not recognized as a component" in str(w.message)
        }
    )
    if strays:
        report.notes.append(
            f"{len(strays)} object(s) that are not part of the store were ignored (e.g. "
            f"{strays[0]}; *.partial files are temporaries of writes killed mid-way, removed by "
            "the next collect or import run)"
        )
    for w in caught:  # anything else is still shown
        if "not recognized as a component" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return report


def _verify(
    location: str | os.PathLike[str],
    decode: bool,
    storage_options: dict[str, Any] | None,
    progress: bool,
) -> VerifyReport:
    """Check a store's layout, completeness and readability.

    Problems found: wrong layout version, missing or mis-shaped arrays, shards without their
    done-marker (and slots waiting for a retry after source errors), objects of finished shards
    that are missing, resized or altered against the shard's manifest (``decode=True`` also
    checks every object's crc32c and decodes every chunk), finished shards without a manifest,
    duplicate locations, and valid samples with incomplete metadata.
    Raises :class:`~shared.errors.NotAStoreError` when ``location`` is no store at all.
    """
    report = VerifyReport(str(location))
    try:
        store = open_store(location, "r", storage_options)
    except LayoutVersionError as e:
        report.problems.append(str(e))
        return report
    _check_arrays(store, report)
    if report.problems:
        return report
    spec = store.spec
    done = store.done_shards()
    missing = np.flatnonzero(~done)
    if missing.size:
        report.problems.append(
            f"{missing.size} of {spec.n_shards} shards not done: {format_ranges(missing)}"
        )
    retry = unfilled_after_source_errors(store)
    if retry:
        report.problems.append(
            f"{sum(retry.values())} slot(s) unfilled after source errors in shard(s) "
            f"{format_ranges(list(retry))}: rerun the collect command to retry them"
        )
    damaged = _check_manifests(store, decode, report, progress)
    if decode:  # shards already reported damaged are not decoded again
        _check_chunks(
            store,
            np.array([s for s in np.flatnonzero(done) if s not in damaged]),
            report,
            progress,
        )
    _check_samples(store, done, report)
    return report


def _check_arrays(store: Store, report: VerifyReport) -> None:
    defs = array_defs(store.spec, store.layout_version)
    present = set(store.group.array_keys())
    for name, d in defs.items():
        if name not in present:
            report.problems.append(f"array {name!r} is missing")
            continue
        arr = store.array(name)
        if tuple(arr.shape) != d.shape:
            report.problems.append(
                f"array {name!r} has shape {tuple(arr.shape)}, the attributes imply {d.shape}"
            )
        dims = tuple(getattr(arr.metadata, "dimension_names", None) or ())
        if dims != d.dims:
            report.problems.append(f"array {name!r} has dims {dims}, expected {d.dims}")
    if "band" in present and not report.problems:
        names = [str(b) for b in np.asarray(store.array("band")[:])]
        if names != list(store.spec.bands):
            report.problems.append(f"band coordinate {names} differs from attributes")


def _check_manifests(
    store: Store, checksums: bool, report: VerifyReport, progress: bool = False
) -> set[int]:
    """Report damage against the manifests; returns the damaged shards."""
    damage, aware = find_damage(store, checksums, progress)
    if not aware:
        if store.done_shards().any():
            report.notes.append(
                "written before per-shard manifests: a deleted object cannot be told from an "
                "empty one; run python -m shared upgrade to check and record them"
            )
        return set()
    for d in damage[:20]:
        report.problems.append(str(d))
    if len(damage) > 20:
        report.problems.append(f"… and {len(damage) - 20} more damaged object(s)")
    if damage:
        report.problems.append(
            f"{len({d.shard for d in damage})} damaged shard(s) "
            f"{format_ranges(sorted({d.shard for d in damage}))}: rerun the collect command "
            "that made the store with --repair to rewrite them"
        )
    return {d.shard for d in damage}


def _check_chunks(
    store: Store, shards: np.ndarray, report: VerifyReport, progress: bool = False
) -> None:
    from shared.progress import progress as bar_for

    reader = StoreReader(store)
    bad: dict[str, list[int]] = {}
    first_error: dict[str, str] = {}
    images = image_arrays(store.spec, store.layout_version)
    bar = bar_for(len(shards), "verify: decoding", "shard", enabled=progress)
    for shard in shards:
        bar.update(1)
        sl = store.spec.shard_slice(int(shard))
        for name in shard_arrays(store.spec, store.layout_version):
            try:
                if name in images:
                    reader.check_shard(name, int(shard))
                else:
                    store.array(name)[sl]
            except (ChunkReadError, StoreError, RuntimeError, ValueError, OSError) as e:
                bad.setdefault(name, []).append(int(shard))
                first_error.setdefault(name, str(e).splitlines()[0][:200])
    bar.close()
    for name, shard_list in bad.items():
        report.problems.append(
            f"array {name!r}: unreadable chunks in shard(s) {format_ranges(shard_list)} "
            f"(first: {first_error[name]})"
        )


def _check_samples(store: Store, done: np.ndarray, report: VerifyReport) -> None:
    spec = store.spec
    try:  # the chunks of every shard, read concurrently and decoded directly
        valid = read_column(store, "valid").astype(bool)
        lon = read_column(store, "lon")
        lat = read_column(store, "lat")
        epsg = read_column(store, "epsg")
        time = read_column(store, "time")
    except Exception as e:  # already reported chunk by chunk when decode=True
        report.problems.append(f"cannot read sample metadata: {str(e).splitlines()[0][:200]}")
        return
    shard_of = np.arange(spec.n_samples) // spec.shard_samples
    in_done = done[shard_of]
    live = valid & in_done
    empty = np.flatnonzero(~valid & in_done)
    if empty.size:
        report.notes.append(
            f"{empty.size} empty slot(s) in finished shards (every candidate rejected): "
            f"samples {format_ranges(empty)}"
        )
    incomplete = np.flatnonzero(
        live
        & (
            ~np.isfinite(lon)
            | ~np.isfinite(lat)
            | (epsg == 0)
            | np.any(time == np.iinfo(np.int64).min, axis=1)
        )
    )
    if incomplete.size:
        report.problems.append(
            f"{incomplete.size} valid sample(s) with missing lon/lat/epsg/time: "
            f"{format_ranges(incomplete)}"
        )
    ids = np.flatnonzero(live)
    repeats = pd.DataFrame({"lon": lon[live], "lat": lat[live]}).duplicated(keep="first")
    if repeats.any():
        report.problems.append(
            f"{int(repeats.sum())} duplicate location(s): samples "
            f"{format_ranges(ids[repeats.to_numpy()])} repeat an earlier sample's lon/lat"
        )
    report.notes.append(f"{int(live.sum())} samples in {int(done.sum())} finished shards")
