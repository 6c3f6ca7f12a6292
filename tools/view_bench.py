"""``python -m tools.view_bench STORE [--samples 64]``: the xarray read paths, measured.

For each path: the dask task count and wall time of a B4 mean over the first ``--samples``
locations, and random reads (3 seasons × B4, B3, B2 of one location at a time, seeded order).
Paths: ``xarray.open_zarr`` (one chunk per image), ``open_dataset`` as it was before it read
through :class:`StoreReader` (zarr chunks merged per shard), ``shared.open_dataset`` with
and without dask, and ``StoreReader`` itself. A tool, not library code: prints Markdown.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import xarray as xr

from shared.access.view import open_dataset, sample_mask
from shared.store.handle import open_store
from shared.store.reader import StoreReader

RGB = ["B4", "B3", "B2"]


def _before(location: str) -> xr.Dataset:
    """``open_dataset`` as it was: zarr chunks merged per shard, kept samples picked by a list."""
    store = open_store(location)
    k = store.spec.shard_samples
    ds = xr.open_zarr(location, chunks={"sample": k, "season": -1, "band": -1, "y": -1, "x": -1})
    keep = sample_mask(store.done_shards(), np.asarray(store.array("valid")[:]), k)
    return ds.isel(sample=np.flatnonzero(keep))


def _paths(location: str) -> dict[str, Callable[[], xr.Dataset]]:
    return {
        "xarray.open_zarr": lambda: xr.open_zarr(location),
        "open_dataset before (zarr, a chunk per shard)": lambda: _before(location),
        "shared.open_dataset": lambda: open_dataset(location),
        "shared.open_dataset(chunks=None)": lambda: open_dataset(location, chunks=None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.view_bench", description=__doc__)
    parser.add_argument("store")
    parser.add_argument("--samples", type=int, default=64, help="locations in the B4 mean")
    parser.add_argument("--reads", type=int, default=20, help="random reads per xarray path")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print("| path | dask tasks, B4 mean | B4 mean (s) | random reads (locations/s) |")
    print("|---|---|---|---|")
    for name, opener in _paths(args.store).items():
        ds = opener().isel(sample=slice(0, args.samples))
        start = time.perf_counter()
        mean = ds.pixels.sel(band="B4").mean()  # computed here already without dask
        graph = mean.__dask_graph__()
        tasks = 0 if graph is None else len(dict(graph))
        mean.compute()
        took = time.perf_counter() - start
        picks = np.random.default_rng(0).integers(0, ds.sizes["sample"], args.reads)
        start = time.perf_counter()
        for i in picks:
            _ = ds.pixels.isel(sample=int(i), season=[0, 1, 2]).sel(band=RGB).values
        rate = args.reads / (time.perf_counter() - start)
        print(f"| {name} | {tasks:,} | {took:.2f} | {rate:.1f} |")
    reader = StoreReader(args.store)
    picks = np.random.default_rng(0).integers(0, min(args.samples, reader.spec.n_samples), 200)
    start = time.perf_counter()
    for i in picks:
        reader.pixels([int(i)], seasons=[0, 1, 2], bands=RGB)
    print(f"| StoreReader | – | – | {len(picks) / (time.perf_counter() - start):.1f} |")


if __name__ == "__main__":
    main()
