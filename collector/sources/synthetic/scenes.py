"""Acquisitions of the synthetic world: tiles, the 5-day revisit, and each scene's weather.

A *tile* is a 100 km square of the UTM zone (a stand-in for an MGRS granule). Every tile is
imaged on a 5-day cycle whose phase is drawn per tile, at 10:30 local solar time of the tile's
centre, except in polar night (sun below 5°, when Sentinel-2 does not image). Each
acquisition carries the weather of its tile and day, drawn from hashes of (seed, tile, day):
the granule's cloud cover, cloud height, brightness and cirrus share, aerosol load and a
temperature anomaly. Cloud cover follows ``climate.cloud_mean`` through a slow weather regime
(spells of cloudy or clear days lasting about two weeks) and a wide scene-to-scene spread, so
one window can hold a clear scene and an overcast one, or be overcast throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pyproj import Transformer

from collector.sources.synthetic.climate import (
    OVERPASS_HOUR,
    as_day,
    cloud_mean,
    day_of_year,
    hemisphere_doy,
    slow_anomaly,
    solar_position,
)
from collector.sources.synthetic.hashing import Tag, hash_uniform, mix_words
from collector.sources.synthetic.noise import GridAxes, value_noise

__all__ = [
    "TILE_SIZE_M",
    "REVISIT_DAYS",
    "MIN_SUN_ELEVATION",
    "Tile",
    "tile_of",
    "region_traits",
    "SceneWeather",
    "scene_days",
    "scene_weather",
    "scene_id",
    "parse_scene_id",
]

TILE_SIZE_M = 100_000.0
REVISIT_DAYS = 5
#: No acquisitions when the sun at overpass is lower than this (degrees).
MIN_SUN_ELEVATION = 5.0
_PREFIX = "SYNTH"


@lru_cache(maxsize=128)
def _to_lonlat(epsg: int) -> Transformer:
    return Transformer.from_crs(int(epsg), 4326, always_xy=True)


@lru_cache(maxsize=4096)
def _tile_lonlat(epsg: int, col: int, row: int) -> tuple[float, float]:
    lon, lat = _to_lonlat(epsg).transform((col + 0.5) * TILE_SIZE_M, (row + 0.5) * TILE_SIZE_M)
    return float(lon), float(lat)


@dataclass(frozen=True)
class Tile:
    """A 100 km square of a UTM zone: ``col = easting // 100 km``, ``row = northing // 100 km``."""

    epsg: int
    col: int
    row: int

    @property
    def name(self) -> str:
        """E.g. ``"32N5051"``: zone, hemisphere, column (1 digit), row (3 digits)."""
        zone, north = self.epsg % 100, self.epsg < 32700
        return f"{zone:02d}{'N' if north else 'S'}{self.col:01d}{self.row:03d}"

    @property
    def centre(self) -> tuple[float, float]:
        """Easting and northing (m) of the tile's centre."""
        return (self.col + 0.5) * TILE_SIZE_M, (self.row + 0.5) * TILE_SIZE_M

    def lonlat(self) -> tuple[float, float]:
        """Longitude and latitude (degrees) of the tile's centre."""
        return _tile_lonlat(self.epsg, self.col, self.row)

    def key(self, seed: int, tag: int) -> int:
        return mix_words(seed, tag, self.epsg, self.col, self.row)


def tile_of(epsg: int, x: float, y: float) -> Tile:
    """The tile holding a point (UTM metres)."""
    return Tile(int(epsg), int(x // TILE_SIZE_M), int(y // TILE_SIZE_M))


def region_traits(seed: int, epsg: int, x: float, y: float) -> tuple[float, float, float]:
    """Slowly varying regional climate at a point, each in [0, 1] (smooth over ≈ 300 km).

    Returns ``(cloudiness, continentality, dry_summer)``; values are rounded to the kilometre
    of the point, so nearby calls share a cache entry.
    """
    return _region_traits(int(seed), int(epsg), round(x, -3), round(y, -3))


@lru_cache(maxsize=4096)
def _region_traits(seed: int, epsg: int, x: float, y: float) -> tuple[float, float, float]:
    axes = GridAxes(np.array([x]), np.array([y]))
    out = []
    for k in range(3):
        z = float(
            value_noise(mix_words(seed, Tag.CLIMATE, epsg, k), axes, ((300_000.0, 1.0),))[0, 0]
        )
        out.append(1.0 / (1.0 + np.exp(-1.702 * z)))
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class SceneWeather:
    """Per-scene conditions, arrays of shape (n,) aligned with ``day``.

    day: datetime64[D] local solar date; time: datetime64[ms] UTC overpass;
    sun_elevation, sun_azimuth: degrees; cloud_cover: granule fraction in [0, 1];
    cloud_height: m; cloud_brightness: ≈ 0.85–1.1; cirrus: [0, 1]; tau_max: opacity of cloud
    cores; aod: aerosol optical depth at 550 nm; temp_anomaly: °C.
    """

    day: np.ndarray
    time: np.ndarray
    sun_elevation: np.ndarray
    sun_azimuth: np.ndarray
    cloud_cover: np.ndarray
    cloud_height: np.ndarray
    cloud_brightness: np.ndarray
    cirrus: np.ndarray
    tau_max: np.ndarray
    aod: np.ndarray
    temp_anomaly: np.ndarray


def _overpass(days: np.ndarray, lon: float) -> np.ndarray:
    offset_ms = np.int64(round((OVERPASS_HOUR - lon / 15.0) * 3_600_000))
    return days.astype("datetime64[ms]") + np.timedelta64(int(offset_ms), "ms")


def scene_days(seed: int, tile: Tile, start: np.datetime64, end: np.datetime64) -> np.ndarray:
    """Acquisition days (datetime64[D], ascending) of ``tile`` whose UTC time is in [start, end)."""
    start_ms = np.asarray(start, dtype="datetime64[ms]")
    end_ms = np.asarray(end, dtype="datetime64[ms]")
    lo = as_day(start) - np.timedelta64(1, "D")
    hi = as_day(end) + np.timedelta64(2, "D")
    days = np.arange(lo, hi, dtype="datetime64[D]")
    phase = int(hash_uniform(tile.key(seed, Tag.TILE))[0] * REVISIT_DAYS)
    days = days[(days.astype(np.int64) - phase) % REVISIT_DAYS == 0]
    lon, lat = tile.lonlat()
    t = _overpass(days, lon)
    days = days[(t >= start_ms) & (t < end_ms)]
    el, _ = solar_position(lat, day_of_year(days))
    return days[el >= MIN_SUN_ELEVATION]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def scene_weather(seed: int, tile: Tile, days: np.ndarray) -> SceneWeather:
    """Weather of ``tile`` on acquisition ``days`` (datetime64[D]); deterministic."""
    days = np.asarray(days, dtype="datetime64[D]")
    n = days.astype(np.int64)
    lon, lat = tile.lonlat()
    doy = day_of_year(days)
    el, az = solar_position(lat, doy)
    cloudiness, _, _ = region_traits(seed, tile.epsg, *tile.centre)
    key = tile.key(seed, Tag.SCENE)
    u = hash_uniform(key, np.arange(7)[:, None], n[None, :])  # 7 independent streams
    regime = slow_anomaly(tile.key(seed, Tag.WEATHER), n, 12.0)
    mean = np.clip(
        cloud_mean(lat, hemisphere_doy(lat, doy), cloudiness) + 0.13 * regime, 0.03, 0.95
    )
    cover = 1.0 / (1.0 + np.exp(-(_logit(mean) + 2.6 * _logit(u[0]))))
    return SceneWeather(
        day=days,
        time=_overpass(days, lon),
        sun_elevation=el,
        sun_azimuth=az,
        cloud_cover=cover,
        cloud_height=600.0 + 2400.0 * u[1],
        cloud_brightness=0.85 + 0.25 * u[2],
        cirrus=u[3] ** 2,
        tau_max=0.9 + 0.1 * u[4],
        aod=0.04 + 0.4 * u[5] ** 2,
        temp_anomaly=2.5 * slow_anomaly(mix_words(key, 99), n, 8.0),
    )


def scene_id(tile: Tile, day: np.datetime64) -> str:
    """Identifier of an acquisition: ``SYNTH_<tile>_<YYYYMMDD>``."""
    return f"{_PREFIX}_{tile.name}_{str(as_day(day)).replace('-', '')}"


def parse_scene_id(scene_id_: str) -> tuple[str, np.datetime64]:
    """``(tile name, day)`` of an identifier made by :func:`scene_id`; ``ValueError`` otherwise."""
    parts = scene_id_.split("_")
    if len(parts) != 3 or parts[0] != _PREFIX or len(parts[2]) != 8 or not parts[2].isdigit():
        raise ValueError(f"not a synthetic scene id: {scene_id_!r}")
    d = parts[2]
    try:
        day = as_day(f"{d[:4]}-{d[4:6]}-{d[6:]}")
    except ValueError as e:
        raise ValueError(f"bad date in scene id {scene_id_!r}") from e
    return parts[1], day
