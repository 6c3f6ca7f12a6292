"""Tiny, seeded stores in the real layout, for tests and examples.

Pixel values encode where they belong, so a test can tell a misplaced image from a right
one: on the 10 m grid ``pixels[i, s, b, y, x] == pixel_value(i, s, b, y0, x0)`` where
``(y0, x0)`` is the upper-left 10 m pixel of the band's own 10/20/60 m pixel (:func:`grid_values`),
so the native arrays of layout 3 hold ``pixel_value(i, s, b, f·y, f·x)`` exactly.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import numpy as np

from shared.layout.bands import band_names
from shared.layout.grid import snap_grids
from shared.layout.native import FACTOR, band_group
from shared.layout.spec import LAYOUT_VERSION, StoreSpec
from shared.store.handle import Store, create_store
from shared.store.writer import empty_shard, write_shard

__all__ = ["pixel_value", "grid_values", "make_store", "fill_shard"]


def pixel_value(
    sample: np.ndarray | int,
    season: np.ndarray | int,
    band: np.ndarray | int,
    y: np.ndarray | int,
    x: np.ndarray | int,
) -> np.ndarray:
    """The DN that :func:`make_store` writes at a position (never 0, the no-data value)."""
    v = (
        np.asarray(sample) * 1009
        + np.asarray(season) * 211
        + np.asarray(band) * 37
        + np.asarray(y) * 3
        + np.asarray(x)
    )
    return (v % 60000 + 1).astype(np.uint16)


def grid_values(
    spec: StoreSpec,
    samples: np.ndarray,
    seasons: np.ndarray | None = None,
    bands: tuple[str, ...] | None = None,
) -> np.ndarray:
    """``(n, seasons, bands, size, size)`` values :func:`make_store` wrote, on the 10 m grid."""
    seasons = np.arange(spec.n_seasons) if seasons is None else np.asarray(seasons)
    bands = spec.bands if bands is None else tuple(bands)
    n = spec.size
    out = np.empty((len(samples), len(seasons), len(bands), n, n), np.uint16)
    for k, b in enumerate(bands):
        f = FACTOR[band_group(b)]
        yx = np.arange(n) // f * f
        band = np.array([spec.bands.index(b)])
        grid = np.ix_(np.asarray(samples), seasons, band, yx, yx)
        out[:, :, k : k + 1] = pixel_value(*grid)
    return out


def fill_shard(
    spec: StoreSpec, shard: int, seed: int = 0, version: int = LAYOUT_VERSION
):  # -> ShardData
    """One shard of well-formed data: lon/lat in Europe, 3-month seasons, known pixels."""
    data = empty_shard(spec, shard, version)
    sl = spec.shard_slice(shard)
    idx = np.arange(sl.start, sl.stop)
    rng = np.random.default_rng([seed, shard])
    lon = -5 + (idx % 50) * 0.5 + rng.uniform(0, 0.1, idx.size)
    lat = 40 + (idx // 50) * 0.5 + rng.uniform(0, 0.1, idx.size)
    epsg, transform = snap_grids(lon, lat, spec.size, spec.resolution_m)
    s = spec.n_seasons
    data.pixels[:] = grid_values(spec, idx)
    data.cloud[:] = rng.integers(0, 30, data.cloud.shape, dtype=np.uint8)
    data.clear_fraction[:] = 1.0
    base = np.datetime64("2021-01-15T10:30:00", "ms")
    months = np.arange(s) * 91
    data.time[:] = base + (months[None, :] + idx[:, None] % 30).astype("timedelta64[D]")
    data.product_id[:] = np.array(
        [[f"SYNTH_{i:06d}_{j}" for j in range(s)] for i in idx], dtype=object
    )
    data.lon[:], data.lat[:] = lon, lat
    data.epsg[:], data.transform[:] = epsg, transform
    data.candidate_id[:] = idx
    data.valid[:] = True
    return data


def make_store(
    location: str | os.PathLike[str],
    n_samples: int = 10,
    n_seasons: int = 4,
    bands: tuple[str, ...] | None = None,
    size: int = 24,
    shard_samples: int = 4,
    collection: str = "L1C",
    shards: list[int] | None = None,
    seed: int = 0,
    layout_version: int = LAYOUT_VERSION,
) -> Store:
    """Create a small synthetic-labelled store and write ``shards`` (default: all).

    The size must divide by 6 when the bands include 60 m ones (2 for 20 m) unless
    ``layout_version`` < 3 (older layouts, for tests of readers and ``upgrade``).
    """
    spec = StoreSpec(
        n_samples=n_samples,
        n_seasons=n_seasons,
        bands=band_names(collection) if bands is None else tuple(bands),
        size=size,
        shard_samples=shard_samples,
        collection=collection,
    )
    store = create_store(
        location,
        spec,
        source="synthetic",
        synthetic=True,
        config={"generator": "shared.testing"},
        layout_version=layout_version,
    )
    for shard in range(spec.n_shards) if shards is None else shards:
        write_shard(store, shard, fill_shard(spec, shard, seed, layout_version))
    return store


def start_moto(credential: str = "testing") -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """moto's S3 server (a test dependency) on a free 127.0.0.1 port, once it answers; returns
    the process (terminate it when done) and fsspec storage options for it, whose key and
    secret are both ``credential``."""
    import socket
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint, timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    keys = {"key": credential, "secret": credential}
    return proc, {**keys, "client_kwargs": {"endpoint_url": endpoint}}
