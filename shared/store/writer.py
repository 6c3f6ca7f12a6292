"""Writing one whole shard: every array of its samples, then its done-marker.

A shard is the unit of writing. One writer fills it in one go: its arrays, then its manifest
(every object key with size and crc32c, :mod:`shared.store.manifests`), then its ``shard_done``
flag, so a writer killed half-way leaves a shard that readers, ``verify`` and the collector
treat as not done and that a rerun rewrites whole.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from shared.errors import ShardShapeError
from shared.layout.georef import crs_units, pixel_centres
from shared.layout.spec import CLOUD_NODATA, StoreSpec, shard_arrays
from shared.store.handle import Store, marker_key
from shared.store.manifests import manifest_key, write_manifest
from shared.store.shards import encode_shard, shard_key, shard_layout
from shared.store.summary import RECORD_ATTR, drop_record, shard_summary, write_summary

__all__ = ["ShardData", "empty_shard", "write_shard", "read_shard", "to_time_ms"]


@dataclass
class ShardData:
    """All data of one shard's ``k`` slots (``k`` = ``shard_samples``, fewer for the last shard).

    pixels: (k, seasons, bands, size, size) uint16 DN; cloud: (k, seasons, size, size) uint8;
    clear_fraction: (k, seasons) float32; time: (k, seasons) datetime64; product_id:
    (k, seasons) str; lon, lat: (k,) float64; epsg: (k,) int32; transform: (k, 6) float64;
    candidate_id: (k,) int64; valid: (k,) bool — False leaves the slot empty.
    """

    pixels: np.ndarray
    cloud: np.ndarray
    clear_fraction: np.ndarray
    time: np.ndarray
    product_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    epsg: np.ndarray
    transform: np.ndarray
    candidate_id: np.ndarray
    valid: np.ndarray
    landcover: np.ndarray | None = None  # (k, seasons, size, size) uint8, stores with truth only

    @property
    def n_slots(self) -> int:
        return int(self.valid.shape[0])

    def set_slot(self, slot: int, **values: np.ndarray | float | int | str) -> None:
        """Fill one slot from per-sample values (same names as the fields) and mark it valid."""
        for name, value in values.items():
            getattr(self, name)[slot] = value
        self.valid[slot] = True


def empty_shard(spec: StoreSpec, shard: int) -> ShardData:
    """A shard's worth of fill values, ready for :meth:`ShardData.set_slot`."""
    sl = spec.shard_slice(shard)
    k, s, b, n = sl.stop - sl.start, spec.n_seasons, spec.n_bands, spec.size
    return ShardData(
        pixels=np.zeros((k, s, b, n, n), np.uint16),
        cloud=np.full((k, s, n, n), CLOUD_NODATA, np.uint8),
        clear_fraction=np.full((k, s), np.nan, np.float32),
        time=np.full((k, s), np.datetime64("NaT"), "datetime64[ms]"),
        product_id=np.full((k, s), "", dtype=object),
        lon=np.full(k, np.nan),
        lat=np.full(k, np.nan),
        epsg=np.zeros(k, np.int32),
        transform=np.full((k, 6), np.nan),
        candidate_id=np.full(k, -1, np.int64),
        valid=np.zeros(k, bool),
        landcover=np.full((k, s, n, n), 255, np.uint8) if spec.has_truth else None,
    )


def to_time_ms(t: np.ndarray) -> np.ndarray:
    """datetime64 → int64 milliseconds since the epoch, NaT → the time array's fill value."""
    ms = np.asarray(t).astype("datetime64[ms]")
    out = ms.astype(np.int64)
    out[np.isnat(ms)] = np.iinfo(np.int64).min
    return out


def _expected_shapes(spec: StoreSpec, k: int) -> dict[str, tuple[int, ...]]:
    s, b, n = spec.n_seasons, spec.n_bands, spec.size
    truth = {"landcover": (k, s, n, n)} if spec.has_truth else {}
    return truth | {
        "pixels": (k, s, b, n, n),
        "cloud": (k, s, n, n),
        "clear_fraction": (k, s),
        "time": (k, s),
        "product_id": (k, s),
        "lon": (k,),
        "lat": (k,),
        "epsg": (k,),
        "transform": (k, 6),
        "candidate_id": (k,),
        "valid": (k,),
    }


def write_shard(
    store: Store,
    shard: int,
    data: ShardData,
    finish: bool = True,
) -> None:
    """Write every array of ``shard`` from ``data``, then its manifest and summary
    (:mod:`shared.store.summary`), then its done-marker.

    Only the objects of this shard are touched, so different shards may be written by
    different processes or machines at the same time. ``finish=False`` writes the arrays
    only: the shard stays unfinished (kept for a later retry, see :func:`read_shard`).
    """
    if store.read_only:
        raise PermissionError(f"store {store.location} is open read-only")
    spec = store.spec
    sl = spec.shard_slice(shard)
    k = sl.stop - sl.start
    for name, shape in _expected_shapes(spec, k).items():
        got = np.shape(getattr(data, name))
        if got != shape:
            raise ShardShapeError(f"shard {shard}: {name} has shape {got}, expected {shape}")
    if data.pixels.dtype != np.uint16:
        raise ShardShapeError(f"shard {shard}: pixels must be uint16, got {data.pixels.dtype}")
    values = {
        "pixels": data.pixels,
        "cloud": np.asarray(data.cloud, np.uint8),
        "clear_fraction": np.asarray(data.clear_fraction, np.float32),
        "time": to_time_ms(data.time),
        "product_id": np.asarray(data.product_id, dtype=str),
        "lon": np.asarray(data.lon, np.float64),
        "lat": np.asarray(data.lat, np.float64),
        "epsg": np.asarray(data.epsg, np.int32),
        "transform": np.asarray(data.transform, np.float64),
        "candidate_id": np.asarray(data.candidate_id, np.int64),
        "valid": np.asarray(data.valid, bool),
    }
    if spec.has_truth:
        values["landcover"] = np.asarray(data.landcover, np.uint8)
    values["x"], values["y"] = _coordinates(spec, shard, values)
    known: dict[str, bytes | None] = {}
    for name in shard_arrays(spec, store.layout_version):
        known.update(_write(store, name, shard, sl, values[name]))
    if not finish:
        return
    manifest = write_manifest(store, shard, known)
    objects = sorted({key.split("/", 1)[0] for key in manifest["objects"]})
    nbytes = sum(int(o["bytes"]) for o in manifest["objects"].values())
    write_summary(store, shard_summary(store, shard, values, objects, nbytes))
    if store.attrs.get(RECORD_ATTR) and store.shard_done(shard):
        drop_record(store, [shard])  # a finished shard rewritten outside a run
    store.array("shard_done")[shard] = 1


def _coordinates(
    spec: StoreSpec, shard: int, values: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre ``x``, ``y`` (k, size) of a shard from its transforms; NaN in empty slots.

    Raises :class:`ShardShapeError` when a sample's grid is rotated or its CRS's units are
    not the store's ``crs_units`` (the units of ``x``/``y`` are declared once per store).
    """
    valid = values["valid"]
    transform = np.where(valid[:, None], values["transform"], np.nan)
    try:
        x, y = pixel_centres(transform, spec.size)
        for code in np.unique(values["epsg"][valid]):
            if code > 0 and crs_units(int(code)) != spec.crs_units:
                raise ValueError(
                    f"EPSG:{code} is in {crs_units(int(code))}, the store's x/y in "
                    f"{spec.crs_units} (StoreSpec.crs_units)"
                )
    except ValueError as e:
        raise ShardShapeError(f"shard {shard}: {e}") from e
    return x, y


def read_shard(store: Store, shard: int) -> ShardData:
    """Everything written for ``shard``, as :class:`ShardData` (the inverse of the writer)."""
    sl = store.spec.shard_slice(shard)

    def get(name: str) -> np.ndarray:
        return np.asarray(store.array(name)[sl])

    ms = get("time")
    times = ms.astype("datetime64[ms]")
    times[ms == np.iinfo(np.int64).min] = np.datetime64("NaT")
    return ShardData(
        pixels=get("pixels"),
        cloud=get("cloud"),
        clear_fraction=get("clear_fraction"),
        time=times,
        product_id=get("product_id").astype(object),
        lon=get("lon"),
        lat=get("lat"),
        epsg=get("epsg"),
        transform=get("transform"),
        candidate_id=get("candidate_id"),
        valid=get("valid").astype(bool),
        landcover=get("landcover") if store.spec.has_truth else None,
    )


def reset_slots(data: ShardData, spec: StoreSpec, shard: int, slots: list[int]) -> None:
    """Put the fill values back into ``slots`` of ``data`` (before they are retried)."""
    empty = empty_shard(spec, shard)
    for name in (f.name for f in fields(ShardData) if f.name != "landcover"):
        getattr(data, name)[slots] = getattr(empty, name)[slots]
    if data.landcover is not None and empty.landcover is not None:
        data.landcover[slots] = empty.landcover[slots]


def _write(
    store: Store, name: str, shard: int, sl: slice, value: np.ndarray
) -> dict[str, bytes | None]:
    """Image arrays go through the direct shard encoder; everything else through zarr.

    Returns the bytes of the objects written directly (``None``: deleted), by key.
    """
    array = store.array(name)
    layout = shard_layout(array) if name in ("pixels", "cloud", "landcover") else None
    if layout is None or layout.shard[0] != store.spec.shard_samples:
        array[sl] = value
        return {}
    data = encode_shard(layout, value)
    key = shard_key(layout, shard)
    if data is None:  # an all-empty shard: no object, as zarr-python would leave it
        store.delete_object(key)
    else:
        store.write_object(key, data)
    return {key: data}


def clear_shard_marker(store: Store, shard: int) -> None:
    """Unset a shard's done-marker and drop its manifest (before rewriting the shard)."""
    store.delete_object(marker_key(shard))  # the marker exists only while set
    store.delete_object(manifest_key(shard))
