"""Georeferencing of a sample's pixel grid: pixel-centre coordinates, CRS units, CF grid mapping.

Each sample has its own CRS (``epsg``, a UTM zone for collected stores) and an axis-aligned
affine ``transform`` in rasterio order ``(a, b, c, d, e, f)``: pixel ``(row, col)`` has its
upper-left corner at ``x = c + a·col``, ``y = f + e·row``. The ``x``/``y`` coordinates of the
layout are pixel *centres* (``col + 0.5``), in the CRS's own units (metres for UTM, degrees
for EPSG:4326), as CF and rioxarray expect.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "CRS_UNITS",
    "pixel_centres",
    "crs_units",
    "xy_attrs",
    "grid_mapping_attrs",
    "gdal_geotransform",
]

#: Units of a sample CRS's axes, as pyproj names them, and the CF attributes they imply.
CRS_UNITS: dict[str, dict[str, dict[str, str]]] = {
    "metre": {
        "x": {"standard_name": "projection_x_coordinate", "units": "m"},
        "y": {"standard_name": "projection_y_coordinate", "units": "m"},
    },
    "degree": {
        "x": {"standard_name": "longitude", "units": "degrees_east"},
        "y": {"standard_name": "latitude", "units": "degrees_north"},
    },
}


def pixel_centres(transform: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``, each ``(n, size)`` float64: pixel-centre coordinates of ``n`` grids.

    ``transform`` is ``(n, 6)`` (or ``(6,)``) rasterio-order affines; rows with NaN give NaN.

    Raises:
        ValueError: a grid is rotated or sheared (``b`` or ``d`` non-zero), which 1-D
            coordinates cannot describe.
    """
    t = np.atleast_2d(np.asarray(transform, np.float64))
    a, b, c, d, e, f = (t[:, i : i + 1] for i in range(6))
    finite = np.isfinite(t).all(axis=1)
    if np.any(finite & ((b[:, 0] != 0) | (d[:, 0] != 0))):
        raise ValueError("a rotated or sheared grid (transform b or d non-zero) has no x/y axes")
    centre = np.arange(size, dtype=np.float64) + 0.5
    return c + a * centre, f + e * centre


@lru_cache(maxsize=256)
def crs_units(epsg: int) -> str:
    """Axis unit of an EPSG CRS as pyproj names it (``"metre"``, ``"degree"``, …).

    Raises:
        ValueError: ``epsg`` is not a CRS pyproj knows.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        axes = CRS.from_epsg(int(epsg)).axis_info
    except CRSError as e:
        raise ValueError(f"EPSG:{epsg} is not a known CRS") from e
    return axes[0].unit_name if axes else "unknown"


def xy_attrs(axis: str, units: str) -> dict[str, Any]:
    """CF attributes of the ``x`` or ``y`` coordinate for a CRS whose axes are in ``units``."""
    return {
        **CRS_UNITS[units][axis],
        "long_name": f"{axis} coordinate of pixel centres in the sample's CRS (see epsg)",
        "axis": axis.upper(),
    }


def gdal_geotransform(transform: np.ndarray) -> str:
    """GDAL's ``GeoTransform`` string ``"c a b f d e"`` of a rasterio-order affine."""
    a, b, c, d, e, f = (float(v) for v in np.asarray(transform, np.float64))
    return " ".join(repr(v) for v in (c, a, b, f, d, e))


def grid_mapping_attrs(epsg: int, transform: np.ndarray) -> dict[str, Any]:
    """Attributes of a CF ``spatial_ref`` variable for one sample's grid.

    CF grid-mapping parameters from pyproj plus ``crs_wkt`` (CF), ``spatial_ref`` (the same
    WKT, as GDAL writes it) and ``GeoTransform`` (GDAL), which rioxarray and GDAL read.
    """
    from pyproj import CRS

    crs = CRS.from_epsg(int(epsg))
    attrs: dict[str, Any] = dict(crs.to_cf())
    wkt = crs.to_wkt()
    attrs.update(crs_wkt=wkt, spatial_ref=wkt, GeoTransform=gdal_geotransform(transform))
    return attrs
