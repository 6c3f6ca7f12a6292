"""Helpers for the synthetic-source tests: seeded locations and least-cloudy patches."""

from __future__ import annotations

import numpy as np

from collector.sources.base import Location, Patch, Scene
from collector.sources.synthetic import SyntheticSource
from collector.sources.synthetic.sites import make_locations
from shared.layout.native import FACTOR, BandImages, band_group, upsample


def locations_in(
    n: int,
    lat_range: tuple[float, float],
    reference: str = "2021-01-15",
    size: int = 64,
    seed: int = 0,
    lon_range: tuple[float, float] = (-8.0, 40.0),
) -> list[Location]:
    """``n`` seeded locations in a lon/lat box, all with seasons centred on ``reference`` + 3·s months."""
    rng = np.random.default_rng([seed, 99])
    lon = rng.uniform(*lon_range, n)
    lat = rng.uniform(*lat_range, n)
    return make_locations(lon, lat, np.datetime64(reference), size=size)


def clearest(windows: list[list[Scene]]) -> list[Scene] | None:
    """The scene with the highest clear fraction per window, ``None`` if a window is empty."""
    chosen = [max(w, key=lambda s: s.clear_fraction or 0.0, default=None) for w in windows]
    return None if any(s is None for s in chosen) else chosen  # type: ignore[return-value]


def clearest_patches(source: SyntheticSource, locations: list[Location]) -> list[Patch]:
    """The least cloudy patch of every location that has a scene in each window."""
    patches = []
    for loc in locations:
        chosen = clearest(source.search(loc))
        if chosen is not None:
            patches.append(source.fetch(loc, chosen))
    return patches


def band(patch: Patch, source: SyntheticSource, name: str) -> np.ndarray:
    """(S, N, N) float32 reflectance of one band (native bands brought to the 10 m grid)."""
    if isinstance(patch.pixels, BandImages):
        native = patch.pixels.band(name)
        up = upsample(native, FACTOR[band_group(name)])
        return up.astype(np.float32) * np.float32(1e-4)
    return patch.pixels[:, source.bands.index(name)].astype(np.float32) * np.float32(1e-4)
