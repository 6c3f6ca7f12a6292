"""``python -m shared upgrade STORE``: bring an older store to the current layout, in place.

An upgrade is a list of steps (:data:`UPGRADE_STEPS`), each idempotent: it looks at the store,
adds what is missing and says whether it changed anything. The layout version is raised only
after every step has run (:func:`upgrade`), so an interrupted upgrade leaves a store that
still opens as its old version, is whole, and finishes on the next run. Pixel data is never
rewritten: steps add arrays and attributes beside it. Each metadata document is replaced
whole: zarr's local store writes through a temporary file and a rename (zarr-python PR #3412,
merged 2025-08; older 3.1.x releases write in place), object stores replace whole objects.
Run it while nothing else writes to the store.

Version 1 → 2: the ``x``/``y`` pixel-centre coordinates (computed from ``transform``), CF
attributes on every array, ``Conventions`` and ``crs_units`` at the root.

Version 2 → 3: ``pixels`` (every band on the 10 m grid) becomes one array per resolution
group (``pixels_10m``, ``pixels_20m``, ``pixels_60m``) by exact decimation, with the band
names and ``x``/``y`` of each grid; this is the one step that rewrites pixel data. It runs only
where it loses nothing: every 20/60 m image of the store must be 2×2/6×6 blocks (as nearest
resampling on a 60 m-aligned grid gives) and the size must divide by 6 (2). Otherwise the
upgrade says why and the store stays at version 2, whole. The new arrays are filled first,
the version is raised, then ``pixels`` and the old manifests are dropped and the manifests
recorded again, so an interrupted run finishes on the next.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr
from zarr.core.sync import sync

from shared.layout.array_names import coordinate_arrays, pixel_arrays, shard_arrays
from shared.layout.arrays import array_defs
from shared.layout.cf import CONVENTIONS
from shared.layout.georef import pixel_centres
from shared.layout.native import FACTOR, decimate, group_transform, is_blocky
from shared.layout.spec import ADDED_IN_V2, LAYOUT_VERSION
from shared.store.handle import Store, open_store
from shared.store.location import zarr_store
from shared.store.manifests import (
    Damage,
    manifest_shards,
    read_manifest,
    shard_keys,
    write_manifest,
)
from shared.store.reader import ChunkReadError, StoreReader

__all__ = [
    "UpgradeStep",
    "UPGRADE_STEPS",
    "UpgradingStore",
    "upgrade",
    "open_for_upgrade",
    "record_manifests",
]


class UpgradingStore(Store):
    """A store open for an upgrade: arrays are read object by object (``plain``), not from
    the consolidated copy, which an interrupted upgrade may have left behind; root
    attributes are written through the group as opened, which keeps that copy in place
    (it is refreshed at the end), so readers of consolidated metadata never lose it."""

    def __init__(self, opened: Store, plain: zarr.Group) -> None:
        super().__init__(opened.location, opened.group, False, opened.storage_options)
        self.plain = plain
        #: the version this upgrade brings the store to (2 when pixels cannot go native)
        self.target = LAYOUT_VERSION
        self.notes: list[str] = []

    def array(self, name: str) -> zarr.Array:
        return self.plain[name]  # type: ignore[return-value]


@dataclass(frozen=True)
class UpgradeStep:
    """One idempotent change: ``apply(store)`` returns True when it changed the store."""

    name: str
    apply: Callable[[UpgradingStore], bool]


def open_for_upgrade(
    location: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> UpgradingStore:
    """The store at ``location`` open for an upgrade (see :class:`UpgradingStore`)."""
    opened = open_store(location, "r+", storage_options)  # refuses what is no store
    zstore = zarr_store(location, read_only=False, storage_options=storage_options)
    plain = zarr.open_group(zstore, mode="r+", zarr_format=3, use_consolidated=False)
    return UpgradingStore(opened, plain)


def _add_coordinates(store: UpgradingStore) -> bool:
    """Create ``x``/``y`` and fill every slot with the pixel centres of its ``transform``."""
    if store.layout_version >= 2:
        return False
    spec = store.spec
    defs = array_defs(spec, 2)
    valid = np.asarray(store.array("valid")[:], bool)
    transform = np.where(valid[:, None], np.asarray(store.array("transform")[:]), np.nan)
    x, y = pixel_centres(transform, spec.size)
    present = set(store.plain.array_keys())
    for name, values in zip(ADDED_IN_V2, (x, y), strict=True):
        d = defs[name]
        if name in present and tuple(store.array(name).shape) != d.shape:
            del store.plain[name]  # a leftover of another shape: derived data, safe to redo
            present.discard(name)
        array = store.array(name) if name in present else d.create(store.plain)
        for shard in range(spec.n_shards):  # whole chunks, one per shard
            sl = spec.shard_slice(shard)
            array[sl] = values[sl]
    return True


def _native_pixels(store: UpgradingStore) -> bool:
    """Version 2 → 3: per-resolution pixel arrays by exact decimation of ``pixels``.

    Leaves the store at version 2 (``store.target``) with a note when the size does not
    divide or a 20/60 m image is not made of 2×2/6×6 blocks.
    """
    if store.layout_version >= 3:
        return False
    spec = store.spec
    try:
        spec.check_native()
    except ValueError as e:
        store.target = 2
        store.notes.append(f"pixels stay on the 10 m grid (version 2): {e}")
        return False
    defs = array_defs(spec, 3)
    new = [n for n in (*pixel_arrays(spec, 3), *coordinate_arrays(spec, 3)) if n not in ("x", "y")]
    new += [f"band_{g}" for g in spec.groups]
    present = set(store.plain.array_keys())
    for name in new:
        if name in present:
            del store.plain[name]  # a leftover of an interrupted run: redone whole
    arrays = {name: defs[name].create(store.plain) for name in new}
    for g, bands in spec.groups.items():
        arrays[f"band_{g}"][:] = np.array(bands)
    valid = np.asarray(store.array("valid")[:], bool)
    transform = np.where(valid[:, None], np.asarray(store.array("transform")[:]), np.nan)
    for g in spec.groups:
        if g != "10m":
            x, y = pixel_centres(group_transform(transform, g), spec.group_size(g))
            for shard in range(spec.n_shards):
                sl = spec.shard_slice(shard)
                arrays[f"x_{g}"][sl], arrays[f"y_{g}"][sl] = x[sl], y[sl]
    old = store.array("pixels")
    for shard in range(spec.n_shards):
        sl = spec.shard_slice(shard)
        full = np.asarray(old[sl])
        for g, bands in spec.groups.items():
            part = full[:, :, [spec.bands.index(b) for b in bands]]
            if not is_blocky(part, FACTOR[g]):
                for name in new:
                    del store.plain[name]
                store.target = 2
                store.notes.append(
                    f"pixels stay on the 10 m grid (version 2): shard {shard}'s {g} bands are "
                    f"not {FACTOR[g]}×{FACTOR[g]} blocks (resampled, not nearest), so "
                    "decimating them would lose data"
                )
                return False
            arrays[f"pixels_{g}"][sl] = decimate(part, FACTOR[g])
    return True


def _drop_grid_pixels(store: UpgradingStore) -> bool:
    """After the version is 3: drop the old manifests and ``pixels`` (both name the 10 m grid
    array); :func:`_record_manifests` then records the manifests of the native arrays."""
    if store.layout_version < 3 or "pixels" not in set(store.plain.array_keys()):
        return False
    from shared.store.manifests import manifest_key

    for shard in range(store.spec.n_shards):
        sync(store.group.store.delete(manifest_key(shard)))
    del store.plain["pixels"]
    return True


def _add_cf_attributes(store: UpgradingStore) -> bool:
    """Merge the current CF attributes into every array's and the root's attributes."""
    changed = False
    for name, d in array_defs(store.spec, store.target).items():
        array = store.array(name)
        missing = {k: v for k, v in d.attrs.items() if array.attrs.get(k) != v}
        if missing:
            array.update_attributes(missing)
            changed = True
    root = {"Conventions": CONVENTIONS, "crs_units": store.spec.crs_units}
    missing = {k: v for k, v in root.items() if store.attrs.get(k) != v}
    if missing:
        store.update_attrs(**missing)
        changed = True
    return changed


#: The steps of an upgrade, in order; the layout version is raised after the last one.
UPGRADE_STEPS: list[UpgradeStep] = [
    UpgradeStep("x/y pixel-centre coordinates", _add_coordinates),
    UpgradeStep("native-resolution pixel arrays (exact decimation)", _native_pixels),
    UpgradeStep("CF attributes", _add_cf_attributes),
]


def _finish(store: UpgradingStore, changed_before: bool) -> bool:
    """Raise the layout version, then refresh the consolidated metadata if the store has it
    and it is behind (this run changed something, or an earlier run stopped before here)."""
    changed = False
    if store.layout_version < store.target:
        store.update_attrs(layout_version=store.target)
        changed = True
    if _drop_grid_pixels(store):
        changed = True
    listed = store.group.metadata.consolidated_metadata
    behind = listed is not None and (
        set(store.plain.array_keys()) - set(listed.metadata) or changed or changed_before
    )
    if behind:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # consolidated metadata is not yet in the v3 spec
            zarr.consolidate_metadata(store.raw)
    return changed


def upgrade(
    location: str | os.PathLike[str],
    storage_options: dict[str, Any] | None = None,
    log: Callable[[str], Any] = print,
) -> list[str]:
    """Upgrade a store in place to :data:`~shared.layout.spec.LAYOUT_VERSION`; returns the names
    of the steps that changed it (empty when it was current).

    Raises:
        NotAStoreError: nothing SeCo-shaped at ``location``.
        LayoutVersionError: a layout this software does not read.
    """
    store = open_for_upgrade(location, storage_options)
    before = store.layout_version
    done = []
    with warnings.catch_warnings():
        # listing the group's members meets the side files (index.parquet, stac/, …)
        warnings.filterwarnings("ignore", message=".*not recognized as a component.*")
        for step in UPGRADE_STEPS:
            if step.apply(store):
                done.append(step.name)
                log(f"added {step.name}")
        for note in store.notes:
            log(note)
        if _finish(store, bool(done)) and store.layout_version != before:
            done.append(f"layout version {before} -> {store.layout_version}")
            log(f"layout version {before} -> {store.layout_version}")
        done += _record_manifests(location, storage_options, log)
    return done


def _record_manifests(
    location: str | os.PathLike[str],
    storage_options: dict[str, Any] | None,
    log: Callable[[str], Any],
) -> list[str]:
    """Record the per-shard manifests a store written before them lacks (after the version
    is raised, so that they list the current layout's objects, ``x``/``y`` included).

    Idempotent: shards that have one are skipped, so an interrupted run finishes on the next.
    A shard that fails its checksums gets none and is named; the collector's ``--repair``
    rewrites it.
    """
    recorded, damage = record_manifests(open_store(location, "r+", storage_options))
    for d in damage:
        log(
            f"shard {d.shard} is damaged ({d.array}): no manifest recorded; rerun its collect "
            "command with --repair"
        )
    if recorded:
        log(f"recorded manifests of {recorded} finished shard(s)")
        return [f"manifests of {recorded} shard(s)"]
    return []


def record_manifests(store: Store) -> tuple[int, list[Damage]]:
    """Record the manifests of finished shards that lack one, after checking them.

    For ``python -m shared upgrade`` of stores written before manifests existed. Each such
    shard's image chunks are decoded with their crc32c checked and its other arrays read
    (their zstd checksums checked); a shard that fails is not recorded and is returned as
    damage instead (rewrite it with the collect command plus ``--repair``). Returns
    ``(shards recorded, damage)``. The store must be open for writing.

    Raises:
        PermissionError: the store is open read-only.
    """
    if store.read_only:
        raise PermissionError(f"store {store.location} is open read-only")
    have = manifest_shards(store)
    recorded = 0
    damage: list[Damage] = []
    reader = StoreReader(store)
    try:
        for shard in (int(i) for i in np.flatnonzero(store.done_shards())):
            if shard in have and read_manifest(store, shard) is not None:
                continue
            sl = store.spec.shard_slice(shard)
            bad = None
            for name in shard_arrays(store.spec, store.layout_version):
                try:
                    if name in reader._arrays and reader._arrays[name] is not None:
                        reader.check_shard(name, shard)
                    else:
                        store.array(name)[sl]
                except (ChunkReadError, RuntimeError, ValueError, OSError) as e:
                    bad = Damage(shard, name, shard_keys(store, shard)[name], "crc", f"({e})")
                    break
            if bad is not None:
                damage.append(bad)
                continue
            write_manifest(store, shard)
            recorded += 1
    finally:
        reader.close()
    return recorded, damage
