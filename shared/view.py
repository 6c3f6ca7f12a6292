"""The xarray view of a store: named dims ``sample, season, band, y, x`` and coordinates."""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any

import numpy as np
import xarray as xr

from shared.integrity import DamagedShardError, damage_message, missing_objects
from shared.store import open_store

__all__ = ["open_dataset", "sample_mask"]


def sample_mask(done_shards: np.ndarray, valid: np.ndarray, shard_samples: int) -> np.ndarray:
    """Boolean mask over samples: the slot holds data and its shard is finished."""
    shard_of = np.arange(valid.size) // shard_samples
    return np.asarray(valid, bool) & np.asarray(done_shards, bool)[shard_of]


def open_dataset(
    location: str | os.PathLike[str],
    only_done: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Open a store lazily as an :class:`xarray.Dataset`, one dask chunk per shard.

    ``only_done`` keeps just the samples of finished shards that hold data (``valid``),
    which is what an analysis almost always wants. Plain ``xarray.open_zarr(path)`` works
    too; it returns every slot and one dask chunk per image, and cannot tell a deleted chunk
    from an empty one.

    Raises:
        DamagedShardError: an object listed in a finished shard's manifest is missing (it
            would read as fill values).
    """
    store = open_store(location, "r", storage_options)
    done = store.done_shards()
    damage = missing_objects(store, done)
    if damage:
        raise DamagedShardError(damage_message(store, damage))
    k = store.spec.shard_samples
    chunks: dict[str, int] | None = {"sample": k, "season": -1, "band": -1, "y": -1, "x": -1}
    if importlib.util.find_spec("dask") is None:
        chunks = None  # without dask xarray still reads lazily, just not in parallel
    with warnings.catch_warnings():
        # stores are consolidated at finalize; an unfinished one is read without it
        warnings.filterwarnings("ignore", message=".*consolidated metadata.*")
        ds = xr.open_zarr(
            store.group.store,
            chunks=chunks,
        )
    if only_done:
        keep = sample_mask(done, ds["valid"].values, k)
        ds = ds.isel(sample=np.flatnonzero(keep))
    return ds
