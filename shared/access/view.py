"""The xarray view of a store: named dims ``sample, season, band, y, x``, one dask chunk per shard.

The image arrays (``pixels``, ``cloud``, ``landcover``) are dask arrays over the fast
:class:`~shared.store.reader.StoreReader`: one chunk per shard, and a selection (a band, some
seasons, one sample) is fused into the read, so only the images asked for are decoded.
The per-sample arrays (``time``, ``lon``, ``x``, …) are small and read lazily by xarray.

A layout-3 store has one pixel variable per resolution group: ``pixels_10m (sample, season,
band_10m, y, x)``, ``pixels_20m (…, band_20m, y_20m, x_20m)``, ``pixels_60m (…, y_60m, x_60m)``.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from shared.store.handle import Store, open_store
from shared.store.reader import StoreReader
from shared.store.summary import live_samples, read_column

__all__ = ["open_dataset", "sample_mask"]

_IMAGES = ("pixels", "pixels_10m", "pixels_20m", "pixels_60m", "cloud", "landcover")


def sample_mask(done_shards: np.ndarray, valid: np.ndarray, shard_samples: int) -> np.ndarray:
    """Boolean mask over samples: the slot holds data and its shard is finished."""
    shard_of = np.arange(valid.size) // shard_samples
    return np.asarray(valid, bool) & np.asarray(done_shards, bool)[shard_of]


class ShardImages:
    """Array-like view of one image array restricted to ``samples``, read by :class:`StoreReader`.

    ``__getitem__`` takes integers, slices and integer lists per axis (outer indexing) and
    decodes only the selected images. Picklable: each process opens its own reader.
    """

    def __init__(
        self,
        store: Store,
        name: str,
        samples: np.ndarray,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        arr = store.array(name)
        self.location, self.name, self.storage_options = store.location, name, storage_options
        self.samples = np.asarray(samples, np.int64)
        self.shape = (self.samples.size, *arr.shape[1:])
        self.dtype = np.dtype(arr.dtype)
        self.ndim = len(self.shape)
        self._reader: StoreReader | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_reader": None}

    def _read(self) -> StoreReader:
        if self._reader is None:
            self._reader = StoreReader(self.location, storage_options=self.storage_options)
        return self._reader

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis or k is None for k in key):
            raise IndexError("ShardImages takes integers, slices and integer lists only")
        key = key + (slice(None),) * (self.ndim - len(key))
        lead = self.ndim - 2  # sample, season[, band]
        picks, scalar = [], []
        for axis, k in enumerate(key[:lead]):
            chosen = np.arange(self.shape[axis])[k]
            scalar.append(np.ndim(chosen) == 0)
            picks.append(np.atleast_1d(chosen))
        reader = self._read()
        samples = self.samples[picks[0]]
        if self.name == "pixels":
            out = reader.pixels(samples, seasons=picks[1], bands=picks[2].tolist())
        elif self.name.startswith("pixels_"):
            group = self.name.removeprefix("pixels_")
            names = [reader.spec.groups[group][int(b)] for b in picks[2]]
            out = reader.native(samples, seasons=picks[1], bands=names).arrays[group]
        elif self.name == "cloud":
            out = reader.cloud(samples, seasons=picks[1])
        else:
            out = reader.landcover(samples, seasons=picks[1])
        out = out[(..., key[-2], key[-1])]
        return out[tuple(0 if s else slice(None) for s in scalar)]


class _LazyImages(BackendArray):
    """:class:`ShardImages` as an xarray backend array: lazy, outer-indexed, no dask."""

    def __init__(self, images: ShardImages) -> None:
        self.images, self.shape, self.dtype = images, images.shape, images.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self.images.__getitem__
        )


def _shard_chunks(samples: np.ndarray, shard_samples: int) -> tuple[int, ...]:
    """Chunk sizes along ``sample`` that keep each shard's kept samples in one chunk."""
    if samples.size == 0:
        return (0,)
    counts = np.bincount(samples // shard_samples)
    return tuple(int(c) for c in counts if c)


def open_dataset(
    location: str | os.PathLike[str],
    keep_empty: bool = False,
    only_done: bool = True,
    chunks: str | None = "shard",
    storage_options: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Open a store lazily as an :class:`xarray.Dataset`, one dask chunk per shard.

    ``chunks=None`` (or no dask installed) gives lazily indexed NumPy-backed images instead:
    no parallelism, but no dask overhead either, so reading single locations is faster.

    By default only samples that hold data are kept: empty slots (``valid`` False) are
    dropped unless ``keep_empty``; unfinished shards are dropped unless ``only_done`` is
    False. Values are as stored (``pixels`` uint16 with 0 = no data, ``cloud`` 255 = no
    data; ``_FillValue`` stays in the attributes); plain ``xarray.open_zarr(path)`` instead
    applies CF masking (float, NaN) and makes one dask chunk per image.

    ``xarray.open_zarr`` cannot tell a deleted chunk from an empty one; this function can.

    Raises:
        NotAStoreError: nothing SeCo-shaped at ``location``.
        DamagedShardError: an object listed in a finished shard's manifest is missing (it
            would read as fill values).
    """
    store = open_store(location, "r", storage_options)
    done = store.done_shards()
    live = live_samples(store, done)  # refuses damage; cheap while finalize's merge is current
    k = store.spec.shard_samples
    with warnings.catch_warnings():
        # stores are consolidated at finalize; an unfinished one is read without it
        warnings.filterwarnings("ignore", message=".*consolidated metadata.*")
        # the store's side files (index.parquet, map.png, reports/, …) are ours, not zarr's
        warnings.filterwarnings("ignore", message=".*not recognized as a component of a Zarr")
        ds = xr.open_zarr(store.raw, chunks=None, mask_and_scale=False)
    if chunks not in ("shard", None):
        raise ValueError(f"chunks must be 'shard' or None, got {chunks!r}")
    if only_done and not keep_empty:
        samples = live
    else:
        valid = read_column(store, "valid").astype(bool)
        keep = np.ones(valid.size, bool)
        if only_done:
            keep &= done[np.arange(valid.size) // k]
        if not keep_empty:
            keep &= valid
        samples = np.flatnonzero(keep)
    ds = ds.isel(sample=samples)
    for name in _IMAGES:
        if name in ds:
            lazy = _LazyImages(ShardImages(store, name, samples, storage_options))
            ds[name] = ds[name].copy(data=indexing.LazilyIndexedArray(lazy))
    if chunks is None or importlib.util.find_spec("dask") is None:
        return ds  # lazy NumPy reads: no parallelism, no dask overhead
    per_shard = _shard_chunks(samples, k)
    for name in _IMAGES:
        if name in ds:
            # xarray wraps the lazy array in dask; a selection is fused into each shard's
            # read, so ShardImages decodes only the images asked for
            ds[name] = ds[name].chunk({"sample": per_shard}, inline_array=True)
    return ds
