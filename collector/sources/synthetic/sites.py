"""Demo locations for the synthetic world's benchmark, preview and tests.

The real planner (cities, regions, Gaussian sampling) lives elsewhere; this module builds
plain :class:`Location` records on exact UTM grids with the planner's season windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from collector.plan.seasons import SeasonConfig, season_windows
from collector.sources.base import Location
from collector.sources.synthetic.climate import as_day
from shared.layout.grid import snap_grids

__all__ = ["make_locations", "random_locations"]


def make_locations(
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    references: Sequence[np.datetime64] | np.ndarray | np.datetime64,
    size: int = 264,
    n_seasons: int = 4,
    half_width_days: int = 15,
    first_id: int = 0,
) -> list[Location]:
    """Locations centred on ``lon, lat`` (degrees) with 10 m grids of ``size`` pixels."""
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat differ in shape: {lon_a.shape} vs {lat_a.shape}")
    refs = np.broadcast_to(np.asarray(references, dtype="datetime64[D]"), lon_a.shape)
    epsg, transform = snap_grids(lon_a, lat_a, size)
    start, end = season_windows(
        refs, SeasonConfig(n_seasons=n_seasons, window_days=half_width_days)
    )
    return [
        Location(
            candidate_id=first_id + i,
            lon=float(lon_a[i]),
            lat=float(lat_a[i]),
            epsg=int(epsg[i]),
            transform=tuple(float(v) for v in transform[i]),  # type: ignore[arg-type]
            size=size,
            windows=tuple(zip(start[i], end[i], strict=True)),
        )
        for i in range(lon_a.size)
    ]


def random_locations(
    n: int,
    seed: int = 0,
    lat_range: tuple[float, float] = (35.0, 55.0),
    lon_range: tuple[float, float] = (-10.0, 40.0),
    year_range: tuple[int, int] = (2019, 2023),
    size: int = 264,
    n_seasons: int = 4,
) -> list[Location]:
    """``n`` seeded locations drawn uniformly in a lon/lat box, references inside the years."""
    rng = np.random.default_rng([seed, 2718])
    lon = rng.uniform(*lon_range, n)
    lat = rng.uniform(*lat_range, n)
    start = as_day(f"{year_range[0]}-01-01")
    stop = as_day(f"{year_range[1]}-12-31")
    span = int((stop - start).astype(np.int64))
    refs = start + rng.integers(0, span, n).astype("timedelta64[D]")
    return make_locations(lon, lat, refs, size=size, n_seasons=n_seasons)
