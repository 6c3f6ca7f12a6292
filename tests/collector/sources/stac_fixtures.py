"""Data for the STAC source's tests: tiny COGs written here (known patterns, in the patch's UTM
zone and in the next zone) and item JSON, served by :mod:`tests.collector.sources.stac_server`.

Patterns: every reflectance band is a linear field in the patch CRS,
``value(x, y) = base + (x − X0) / 10 + 3 · (Y0 − y) / 10`` (X0, Y0 = the raster's upper-left
corner), which bilinear resampling reproduces exactly, so 10, 20 and 60 m bands all have a
known value at every 10 m patch pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from collector.sources.base import Location
from shared.layout.bands import L2A_BANDS
from shared.layout.grid import PatchGrid
from tests.collector.sources.stac_server import (  # noqa: F401  (re-exported for the tests)
    CONFORMS,
    TOKEN_PATH,
    OfflineStac,
    ServerState,
)

SIZE = 32
MARGIN_M = 840  # the patch's upper-left corner lies this far inside every raster (14 × 60 m)
EXTENT_M = 1920  # rasters are EXTENT_M square: 192 px at 10 m, 96 at 20 m, 32 at 60 m
GRID = PatchGrid.from_center(7.26, 43.70, SIZE)  # Nice, UTM 32N
X0 = GRID.transform[2] - MARGIN_M
Y0 = GRID.transform[5] + MARGIN_M
RESOLUTION = {b.name: b.resolution_m for b in L2A_BANDS}


def band_base(band: str) -> int:
    """Per-band constant of the linear field: 1100, 1200, … in store order."""
    return 1100 + 100 * [b.name for b in L2A_BANDS].index(band)


def on_grid(pixels: Any) -> np.ndarray:
    """A patch's pixels on the 10 m grid (native images repeated as 2×2/6×6 blocks)."""
    from shared.layout.native import BandImages

    return pixels.to_grid() if isinstance(pixels, BandImages) else np.asarray(pixels)


def expected_native(band: str, size: int = SIZE) -> np.ndarray:
    """(n, n) uint16: the COG's own pixels of ``band`` under the patch (n = size · 10 / res)."""
    res = RESOLUTION[band]
    n = size * 10 // res
    rows, cols = np.mgrid[0:n, 0:n]
    x = GRID.transform[2] + res * cols + res / 2
    y = GRID.transform[5] - res * rows - res / 2
    return np.round(band_base(band) + (x - X0) / 10 + 3 * (Y0 - y) / 10).astype(np.uint16)


def expected_band(band: str) -> np.ndarray:
    """(SIZE, SIZE) float: the field at the patch's 10 m pixel centres."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    x = GRID.transform[2] + 10 * cols + 5
    y = GRID.transform[5] - 10 * rows - 5
    return band_base(band) + (x - X0) / 10 + 3 * (Y0 - y) / 10


def location(seasons: int = 2, first: str = "2021-06", candidate_id: int = 3) -> Location:
    """The test patch with ``seasons`` one-month windows three months apart."""
    start = np.datetime64(first, "M")
    windows = tuple(
        ((start + 3 * s).astype("datetime64[D]"), (start + 3 * s + 1).astype("datetime64[D]"))
        for s in range(seasons)
    )
    lon, lat = GRID.center()
    return Location(candidate_id, lon, lat, GRID.epsg, GRID.transform, SIZE, windows)


# -- COGs -------------------------------------------------------------------------------------


def cog_bytes(data: np.ndarray, transform: Any, epsg: int, nodata: int | None = 0) -> bytes:
    """A single-band uint16/uint8 COG (128-pixel blocks, no overviews) as bytes."""
    from rasterio.io import MemoryFile

    profile = {
        "driver": "COG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": f"EPSG:{epsg}",
        "transform": transform,
        "nodata": nodata,
        "blocksize": 128,
        "overviews": "NONE",
        "compress": "DEFLATE",
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data, 1)
        return bytes(mem.read())


def utm_band(band: str, resolution: int | None = None) -> bytes:
    """The linear field of ``band`` at its native resolution in the patch's UTM zone."""
    from rasterio.transform import Affine

    res = resolution or RESOLUTION[band]
    n = EXTENT_M // res
    rows, cols = np.mgrid[0:n, 0:n]
    x = X0 + res * cols + res / 2
    y = Y0 - res * rows - res / 2
    data = band_base(band) + (x - X0) / 10 + 3 * (Y0 - y) / 10
    return cog_bytes(np.round(data).astype(np.uint16), Affine(res, 0, X0, 0, -res, Y0), GRID.epsg)


def utm_dark_band(band: str) -> bytes:
    """A 10 m band that is the linear field except: rows 4–7 of the patch hold DN 600 (darker
    than the −1000 offset) and rows 8–11 hold 0 (no data)."""
    from rasterio.transform import Affine

    n = EXTENT_M // 10
    rows, cols = np.mgrid[0:n, 0:n]
    data = band_base(band) + cols + 0.5 + 3 * (rows + 0.5)
    top = MARGIN_M // 10
    data[top + 4 : top + 8] = 600
    data[top + 8 : top + 12] = 0
    return cog_bytes(np.round(data).astype(np.uint16), Affine(10, 0, X0, 0, -10, Y0), GRID.epsg)


def scl_grid(fill: int = 4) -> np.ndarray:
    """A (96, 96) SCL raster at 20 m filled with ``fill``; patch pixel (r, c) ↔ [40 + r//2, 40 + c//2]."""
    return np.full((EXTENT_M // 20, EXTENT_M // 20), fill, np.uint8)


def patch_scl_view(scl: np.ndarray) -> np.ndarray:
    """The (16, 16) part of a :func:`scl_grid` raster under the patch."""
    top = MARGIN_M // 20
    return scl[top : top + SIZE // 2, top : top + SIZE // 2]


def scl_bytes(scl: np.ndarray) -> bytes:
    from rasterio.transform import Affine

    return cog_bytes(scl, Affine(20, 0, X0, 0, -20, Y0), GRID.epsg)


#: The bright square of the other-CRS raster, in patch pixels: rows 8–15, columns 16–23.
SQUARE = (8, 16, 16, 24)


def other_zone_band(epsg: int = 32631) -> bytes:
    """A 10 m raster in another UTM zone around the patch: 1200 everywhere, 5000 where the
    pixel centre falls into :data:`SQUARE` of the patch grid, 0 (no data) nowhere."""
    from pyproj import Transformer
    from rasterio.transform import Affine

    to_other = Transformer.from_crs(GRID.epsg, epsg, always_xy=True)
    to_patch = Transformer.from_crs(epsg, GRID.epsg, always_xy=True)
    minx, miny, maxx, maxy = GRID.bounds
    xs, ys = to_other.transform([minx, maxx, maxx, minx], [maxy, maxy, miny, miny])
    ulx = np.floor(min(xs) / 10) * 10 - 200
    uly = np.ceil(max(ys) / 10) * 10 + 200
    w = int((max(xs) + 200 - ulx) // 10) + 1
    h = int((uly - (min(ys) - 200)) // 10) + 1
    rows, cols = np.mgrid[0:h, 0:w]
    px, py = to_patch.transform(ulx + 10 * cols + 5, uly - 10 * rows - 5)
    prow = (GRID.transform[5] - py) / 10
    pcol = (px - GRID.transform[2]) / 10
    r0, r1, c0, c1 = SQUARE
    bright = (prow >= r0) & (prow < r1) & (pcol >= c0) & (pcol < c1)
    data = np.where(bright, 5000, 1200).astype(np.uint16)
    return cog_bytes(data, Affine(10, 0, ulx, 0, -10, uly), epsg)


# -- STAC items -------------------------------------------------------------------------------


def footprint() -> dict[str, Any]:
    """GeoJSON polygon (lon/lat) of the rasters' extent, slightly enlarged."""
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(GRID.epsg, 4326, always_xy=True)
    xs = [X0 - 500, X0 + EXTENT_M + 500, X0 + EXTENT_M + 500, X0 - 500, X0 - 500]
    ys = [Y0 + 500, Y0 + 500, Y0 - EXTENT_M - 500, Y0 - EXTENT_M - 500, Y0 + 500]
    lon, lat = to_lonlat.transform(xs, ys)
    return {"type": "Polygon", "coordinates": [[[a, b] for a, b in zip(lon, lat, strict=True)]]}


def item(
    item_id: str,
    when: str,
    cloud: float,
    assets: dict[str, str],
    collection: str,
    baseline: str | None = "05.00",
    raster_offset: float | None = None,
) -> dict[str, Any]:
    """A STAC item: ``assets`` maps asset key → href; ``raster_offset`` adds Earth Search c1's
    ``raster:bands`` scale 0.0001 / offset to every reflectance asset."""
    geometry = footprint()
    ring = np.array(geometry["coordinates"][0])
    properties: dict[str, Any] = {
        "datetime": when,
        "eo:cloud_cover": cloud,
        "proj:epsg": GRID.epsg,
        "platform": "sentinel-2a",
    }
    if baseline is not None:
        properties["s2:processing_baseline"] = baseline
    out_assets = {}
    for key, href in assets.items():
        asset: dict[str, Any] = {"href": href, "type": "image/tiff; application=geotiff"}
        if raster_offset is not None and key.lower() != "scl":
            asset["raster:bands"] = [
                {"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": raster_offset}
            ]
        out_assets[key] = asset
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": item_id,
        "collection": collection,
        "geometry": geometry,
        "bbox": [ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()],
        "properties": properties,
        "links": [],
        "assets": out_assets,
    }


# -- the server -------------------------------------------------------------------------------


class CountingSigner:
    """A stand-in for Planetary Computer signing: appends a SAS-like query with token
    ``version``; ``invalidate()`` moves to the next token. Records every href it signs."""

    def __init__(self) -> None:
        self.version = 1
        self.signed: list[str] = []
        self.invalidated = 0

    def __call__(self, href: str) -> str:
        self.signed.append(href)
        return f"{href}?st=2021-01-01&se=2099-01-01&sp=rl&sig=SECRET{self.version}"

    def invalidate(self) -> None:
        self.invalidated += 1
        self.version += 1


def sign_nothing(href: str) -> str:
    """A module-level signer for the ``"module:function"`` form."""
    return href
