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
from shared.layout.array_names import coordinate_arrays, image_arrays, shard_arrays
from shared.layout.encoding import CLOUD_NODATA
from shared.layout.georef import crs_units, pixel_centres
from shared.layout.native import FACTOR, BandImages
from shared.layout.spec import LAYOUT_VERSION, StoreSpec
from shared.store.handle import Store, marker_key
from shared.store.manifests import manifest_key, write_manifest
from shared.store.shards import encode_shard, shard_key, shard_layout
from shared.store.summary import RECORD_ATTR, drop_record, shard_summary, write_summary

__all__ = ["ShardData", "empty_shard", "write_shard", "read_shard", "to_time_ms"]


@dataclass
class ShardData:
    """All data of one shard's ``k`` slots (``k`` = ``shard_samples``, fewer for the last shard).

    pixels: uint16 DN, :class:`~shared.layout.native.BandImages` with leading axes (k, seasons)
    at native resolution (layout 3), or (k, seasons, bands, size, size) on the 10 m grid
    (layouts 1–2; the writer converts either way: decimation exact on 2×2/6×6 blocks,
    nearest block repeat back); cloud: (k, seasons, size, size) uint8;
    clear_fraction: (k, seasons) float32; time: (k, seasons) datetime64; product_id:
    (k, seasons) str; lon, lat: (k,) float64; epsg: (k,) int32; transform: (k, 6) float64;
    candidate_id: (k,) int64; valid: (k,) bool — False leaves the slot empty.
    """

    pixels: BandImages | np.ndarray
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

    def set_slot(self, slot: int, **values: BandImages | np.ndarray | float | int | str) -> None:
        """Fill one slot from per-sample values (same names as the fields) and mark it valid.

        ``pixels`` may be native :class:`BandImages` or a 10 m grid array whatever the
        shard holds (converted as :class:`ShardData` says).
        """
        for name, value in values.items():
            target = getattr(self, name)
            if isinstance(value, BandImages) and not isinstance(target, BandImages):
                value = value.to_grid("nearest")
            target[slot] = value
        self.valid[slot] = True


def empty_shard(spec: StoreSpec, shard: int, version: int = LAYOUT_VERSION) -> ShardData:
    """A shard's worth of fill values, ready for :meth:`ShardData.set_slot`.

    Pixels are native :class:`BandImages` for layout 3, one 10 m grid array for 1–2.
    """
    sl = spec.shard_slice(shard)
    k, s, b, n = sl.stop - sl.start, spec.n_seasons, spec.n_bands, spec.size
    pixels: BandImages | np.ndarray = (
        BandImages.empty((k, s), spec.bands, n)
        if version >= 3
        else np.zeros((k, s, b, n, n), np.uint16)
    )
    return ShardData(
        pixels=pixels,
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
    s, n = spec.n_seasons, spec.size
    truth = {"landcover": (k, s, n, n)} if spec.has_truth else {}
    return truth | {
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
    values = _pixel_values(spec, shard, k, data.pixels, store.layout_version) | {
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
    values.update(_coordinates(spec, shard, values, store.layout_version))
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


def _pixel_values(
    spec: StoreSpec, shard: int, k: int, pixels: BandImages | np.ndarray, version: int
) -> dict[str, np.ndarray]:
    """The pixel arrays of a shard by array name, checked and converted to the store's layout."""
    s, b, n = spec.n_seasons, spec.n_bands, spec.size
    try:
        if version >= 3:
            native = (
                pixels.select(spec.bands)
                if isinstance(pixels, BandImages)
                else BandImages.from_grid(np.asarray(pixels), spec.bands)
            )
            native.check()
            if native.shape != (k, s) or native.bands != spec.bands or native.size != n:
                raise ValueError(
                    f"pixels hold {list(native.bands)} of size {native.size} for leading "
                    f"shape {native.shape}, expected {list(spec.bands)}, {n}, {(k, s)}"
                )
            out = {f"pixels_{g}": a for g, a in native.arrays.items()}
        else:
            full = pixels.to_grid("nearest") if isinstance(pixels, BandImages) else pixels
            if np.shape(full) != (k, s, b, n, n):
                raise ValueError(f"pixels has shape {np.shape(full)}, expected {(k, s, b, n, n)}")
            out = {"pixels": np.asarray(full)}
    except ValueError as e:
        raise ShardShapeError(f"shard {shard}: {e}") from e
    for name, a in out.items():
        if a.dtype != np.uint16:
            raise ShardShapeError(f"shard {shard}: {name} must be uint16, got {a.dtype}")
    return out


def _coordinates(
    spec: StoreSpec, shard: int, values: dict[str, np.ndarray], version: int = LAYOUT_VERSION
) -> dict[str, np.ndarray]:
    """Pixel-centre ``x``, ``y`` (k, size) of a shard from its transforms; NaN in empty slots.

    Layout 3 adds ``x_20m``/``y_20m`` and ``x_60m``/``y_60m`` of the coarser grids, which
    share the patch's upper-left corner.

    Raises :class:`ShardShapeError` when a sample's grid is rotated or its CRS's units are
    not the store's ``crs_units`` (the units of ``x``/``y`` are declared once per store).
    """
    valid = values["valid"]
    transform = np.where(valid[:, None], values["transform"], np.nan)
    out: dict[str, np.ndarray] = {}
    try:
        for name in coordinate_arrays(spec, version)[::2]:
            group = name[2:] or "10m"
            f = FACTOR[group]
            scaled = transform * np.array([f, 1, 1, 1, f, 1], np.float64)
            x, y = pixel_centres(scaled, spec.size // f)
            out[name], out["y" + name[1:]] = x, y
        for code in np.unique(values["epsg"][valid]):
            if code > 0 and crs_units(int(code)) != spec.crs_units:
                raise ValueError(
                    f"EPSG:{code} is in {crs_units(int(code))}, the store's x/y in "
                    f"{spec.crs_units} (StoreSpec.crs_units)"
                )
    except ValueError as e:
        raise ShardShapeError(f"shard {shard}: {e}") from e
    return out


def read_shard(store: Store, shard: int) -> ShardData:
    """Everything written for ``shard``, as :class:`ShardData` (the inverse of the writer)."""
    sl = store.spec.shard_slice(shard)

    def get(name: str) -> np.ndarray:
        return np.asarray(store.array(name)[sl])

    ms = get("time")
    times = ms.astype("datetime64[ms]")
    times[ms == np.iinfo(np.int64).min] = np.datetime64("NaT")
    spec = store.spec
    pixels: BandImages | np.ndarray = (
        BandImages(spec.bands, spec.size, {g: get(f"pixels_{g}") for g in spec.groups})
        if store.layout_version >= 3
        else get("pixels")
    )
    return ShardData(
        pixels=pixels,
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
    empty = empty_shard(spec, shard, 3 if isinstance(data.pixels, BandImages) else 2)
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
    images = image_arrays(store.spec, store.layout_version)
    layout = shard_layout(array) if name in images else None
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
