"""UTM patch grids: the exact pixel lattice every band of a sample is stored on.

A patch is ``size × size`` pixels at ``resolution`` metres in the UTM zone of its centre.
The upper-left corner lies on the 60 m lattice of the zone (:data:`CORNER_LATTICE_M`):
Sentinel-2 tile origins are multiples of 60 m, so every 10, 20 and 60 m pixel of the patch
is one sensor pixel and the bands need no resampling. Affine transforms use rasterio's order
``(a, b, c, d, e, f) = (scaleX, shearX, translateX, shearY, scaleY, translateY)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer

__all__ = [
    "PatchGrid",
    "CORNER_LATTICE_M",
    "utm_epsg",
    "snap_grids",
    "footprints",
    "lonlat_to_utm",
]

#: Patch corners lie on multiples of this many metres (Sentinel-2's coarsest band, 60 m).
CORNER_LATTICE_M = 60.0


def utm_epsg(lon: float | np.ndarray, lat: float | np.ndarray) -> int | np.ndarray:
    """EPSG code of the WGS 84 / UTM zone holding each point (326zz north, 327zz south).

    Zone = floor((lon + 180) / 6) + 1; the Norway/Svalbard exceptions are not applied.
    """
    lon_a = np.asarray(lon, dtype=np.float64)
    lat_a = np.asarray(lat, dtype=np.float64)
    if np.any(np.abs(lat_a) > 90) or not np.all(np.isfinite(lon_a)):
        raise ValueError("latitude must lie in [-90, 90] and longitude must be finite")
    wrapped = (lon_a + 180.0) % 360.0 - 180.0
    zone = np.clip(np.floor((wrapped + 180.0) / 6.0).astype(np.int64) + 1, 1, 60)
    epsg = np.where(lat_a >= 0, 32600, 32700) + zone
    return int(epsg) if epsg.ndim == 0 else epsg.astype(np.int32)


@lru_cache(maxsize=256)
def _to_utm(epsg: int) -> Transformer:
    return Transformer.from_crs(4326, int(epsg), always_xy=True)


@lru_cache(maxsize=256)
def _to_lonlat(epsg: int) -> Transformer:
    return Transformer.from_crs(int(epsg), 4326, always_xy=True)


def lonlat_to_utm(lon: np.ndarray, lat: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """Project lon/lat (degrees) to easting/northing (m) in one UTM zone."""
    x, y = _to_utm(int(epsg)).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def snap_grids(
    lon: np.ndarray, lat: np.ndarray, size: int, resolution: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Grids for many patch centres at once.

    Returns ``(epsg (n,) int32, transform (n, 6) float64)``; the upper-left corner of each
    grid is the point of the :data:`CORNER_LATTICE_M` lattice (the ``resolution`` lattice when
    that is coarser or does not divide it) nearest to ``centre − size/2 · resolution``.
    """
    if size <= 0 or resolution <= 0:
        raise ValueError(f"size and resolution must be positive, got {size} and {resolution}")
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    epsg = np.atleast_1d(utm_epsg(lon, lat)).astype(np.int32)
    transform = np.zeros((lon.size, 6), dtype=np.float64)
    half = size / 2.0 * resolution
    step = CORNER_LATTICE_M
    if resolution > step or (step / resolution) % 1:
        step = resolution
    for code in np.unique(epsg):
        sel = epsg == code
        x, y = lonlat_to_utm(lon[sel], lat[sel], int(code))
        ulx = np.round((x - half) / step) * step
        uly = np.round((y + half) / step) * step
        transform[sel] = np.stack(
            [
                np.full_like(ulx, resolution),
                np.zeros_like(ulx),
                ulx,
                np.zeros_like(ulx),
                np.full_like(ulx, -resolution),
                uly,
            ],
            axis=1,
        )
    return epsg, transform


def footprints(
    epsg: np.ndarray, transform: np.ndarray, size: int, points_per_edge: int = 4
) -> np.ndarray:
    """Lon/lat polygons (shapely, vectorised) of patch grids.

    Each edge is densified with ``points_per_edge`` points so that the slight curvature of a
    UTM square in lon/lat is kept. Longitudes stay continuous around the patch centre, so a
    patch on the antimeridian may carry longitudes just beyond ±180.
    """
    epsg = np.atleast_1d(np.asarray(epsg))
    transform = np.atleast_2d(np.asarray(transform, dtype=np.float64))
    k = max(int(points_per_edge), 1)
    t = np.arange(k) / k
    # ring in pixel units: top edge, right edge, bottom edge, left edge (clockwise from UL)
    cols = np.concatenate([t, np.ones(k), 1 - t, np.zeros(k)]) * size
    rows = np.concatenate([np.zeros(k), t, np.ones(k), 1 - t]) * size
    n, m = epsg.size, cols.size
    xs = transform[:, 2:3] + cols[None, :] * transform[:, 0:1] + rows[None, :] * transform[:, 1:2]
    ys = transform[:, 5:6] + cols[None, :] * transform[:, 3:4] + rows[None, :] * transform[:, 4:5]
    lon = np.empty((n, m))
    lat = np.empty((n, m))
    for code in np.unique(epsg):
        sel = epsg == code
        lo, la = _to_lonlat(int(code)).transform(xs[sel], ys[sel])
        lon[sel], lat[sel] = lo, la
    centre = lon.mean(axis=1, keepdims=True)
    lon = np.where(lon - centre > 180, lon - 360, np.where(lon - centre < -180, lon + 360, lon))
    ring = np.stack([lon, lat], axis=-1)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    return shapely.polygons(ring)


@dataclass(frozen=True)
class PatchGrid:
    """The grid of one patch: UTM EPSG code, affine transform and size in pixels."""

    epsg: int
    transform: tuple[float, float, float, float, float, float]
    size: int

    @classmethod
    def from_center(
        cls, lon: float, lat: float, size: int = 264, resolution: float = 10.0
    ) -> PatchGrid:
        """Grid of ``size × size`` pixels centred (to the lattice) on ``lon, lat``."""
        epsg, transform = snap_grids(np.array([lon]), np.array([lat]), size, resolution)
        return cls(int(epsg[0]), tuple(float(v) for v in transform[0]), int(size))  # type: ignore[arg-type]

    @property
    def resolution(self) -> float:
        """Pixel size in metres."""
        return float(self.transform[0])

    @property
    def crs(self) -> str:
        """CRS code, e.g. ``"EPSG:32632"``."""
        return f"EPSG:{self.epsg}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in metres of the grid's CRS."""
        a, _, c, _, e, f = self.transform
        return (c, f + e * self.size, c + a * self.size, f)

    def center(self) -> tuple[float, float]:
        """Lon/lat of the grid's centre."""
        minx, miny, maxx, maxy = self.bounds
        lon, lat = _to_lonlat(self.epsg).transform((minx + maxx) / 2, (miny + maxy) / 2)
        return float(lon), float(lat)

    def footprint(self) -> shapely.Polygon:
        """Lon/lat polygon of the grid."""
        return footprints(np.array([self.epsg]), np.array([self.transform]), self.size)[0]
