"""Reading one COG asset onto a patch grid over HTTP, with GDAL's range reads and retries.

Every read goes through :class:`rasterio.vrt.WarpedVRT` onto the target grid, whatever the
asset's CRS: when the asset is in the patch's UTM zone on the same lattice, the warp of a 10 m
band is an exact copy (every bilinear weight is 0 or 1), a 20/60 m band is interpolated
bilinearly, and SCL is sampled nearest; an asset in another CRS (an MGRS tile of the
neighbouring zone) is reprojected by the same call. DN 0 is no data on both sides, so
bilinear weights skip no-data pixels and pixels the asset does not cover read 0.

GDAL settings (:func:`gdal_options`), in one place:

- ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR`` and ``CPL_VSIL_CURL_ALLOWED_EXTENSIONS``: no
  directory listing and no side-car probes (``.aux.xml``, ``.ovr``, ``.msk``) per open;
- ``GDAL_HTTP_MERGE_CONSECUTIVE_RANGES=YES``: neighbouring tiles come in one range request;
  ``GDAL_HTTP_MULTIPLEX=YES``: parallel ranges share one HTTP/2 connection where offered;
- ``GDAL_HTTP_MAX_RETRY`` / ``GDAL_HTTP_RETRY_DELAY``: GDAL itself retries 429 and 5xx answers
  (with growing delays) before an error reaches us; ``GDAL_HTTP_TIMEOUT`` bounds a request;
- ``VSI_CACHE=TRUE``: blocks read once are kept while the file is open.

GDAL remembers a failed URL for the life of the process (its /vsicurl/ file-property cache),
so a later retry of the same URL would fail without a request. A URL that failed is therefore
read again with ``CPL_VSIL_CURL_NON_CACHED`` set for that read only, which skips the cache.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Grid",
    "ReadFailure",
    "gdal_options",
    "read_on_grid",
    "strip_query",
]

#: HTTP statuses worth retrying: timeouts, rate limits, server errors.
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_STATUS = re.compile(r"HTTP response code:\s*(\d{3})")
_CURL = re.compile(r"CURL error|timed out|timeout|connection|could not connect|reset", re.I)
_QUERY = re.compile(r"(https?://[^\s'\"?#]+)\?[^\s'\"#]*")

#: unsigned URLs whose last read failed in this process (read next without GDAL's cache)
_SUSPECT: set[str] = set()
_SUSPECT_LOCK = threading.Lock()
_SUSPECT_MAX = 10_000


@dataclass(frozen=True)
class Grid:
    """A target raster grid: ``width × height`` pixels, rasterio affine, UTM EPSG code."""

    epsg: int
    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int


class ReadFailure(Exception):
    """A read failed: ``status`` is the HTTP status when one was reported, ``transient`` says
    whether trying later may help. The message never holds a URL's query string."""

    def __init__(self, message: str, status: int | None, transient: bool) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


def strip_query(text: str) -> str:
    """``text`` with the query string of every http(s) URL removed (SAS tokens are there)."""
    return _QUERY.sub(r"\1", text)


def gdal_options(
    max_retry: int = 3, retry_delay_s: float = 1.0, timeout_s: float = 30.0
) -> dict[str, str]:
    """The GDAL configuration of every read (see the module docstring)."""
    return {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff",
        "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
        "GDAL_HTTP_MULTIPLEX": "YES",
        "GDAL_HTTP_MAX_RETRY": str(int(max_retry)),
        "GDAL_HTTP_RETRY_DELAY": f"{float(retry_delay_s):g}",
        "GDAL_HTTP_TIMEOUT": f"{float(timeout_s):g}",
        "GDAL_HTTP_CONNECTTIMEOUT": f"{min(float(timeout_s), 10.0):g}",
        "VSI_CACHE": "TRUE",
    }


def classify(error: BaseException, signed: bool) -> ReadFailure:
    """A rasterio/GDAL error as a :class:`ReadFailure` with the HTTP status GDAL reported.

    429, 408 and 5xx, and network failures (connect, reset, timeout) are transient; other
    statuses (400, 404, 403 …) and unreadable files are permanent. ``signed`` is only used to
    word a 403.
    """
    text = strip_query(f"{type(error).__name__}: {error}")
    match = _STATUS.search(text)
    status = int(match.group(1)) if match else None
    if status is not None:
        transient = status in TRANSIENT_STATUS
        if status == 403:
            text += " (expired or refused SAS token)" if signed else " (forbidden or missing)"
    else:
        transient = bool(_CURL.search(text))
    return ReadFailure(text, status, transient)


def _mark(url: str, failed: bool) -> bool:
    """Record whether ``url`` failed; returns whether it had failed before this read."""
    with _SUSPECT_LOCK:
        before = url in _SUSPECT
        if failed and len(_SUSPECT) < _SUSPECT_MAX:
            _SUSPECT.add(url)
        elif not failed:
            _SUSPECT.discard(url)
        return before


def _was_suspect(url: str) -> bool:
    with _SUSPECT_LOCK:
        return url in _SUSPECT


def read_on_grid(
    href: str,
    grid: Grid,
    resampling: str,
    options: dict[str, str],
    key: str | None = None,
    signed: bool = False,
) -> np.ndarray:
    """Band 1 of the COG at ``href`` warped onto ``grid``: (height, width), the file's dtype.

    ``resampling`` is ``"bilinear"`` (reflectance) or ``"nearest"`` (classes). ``key`` is the
    href without its query string (the identity of the file; defaults to ``href``). Raises
    :class:`ReadFailure`, never an exception whose message holds ``href``'s query string.
    """
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.transform import Affine
    from rasterio.vrt import WarpedVRT

    key = key or strip_query(href)
    env: dict[str, Any] = dict(options)
    if _was_suspect(key):
        env["CPL_VSIL_CURL_NON_CACHED"] = "/vsicurl/"  # matches every http(s) URL: this read only
    warp = {
        "crs": CRS.from_epsg(grid.epsg),
        "transform": Affine(*grid.transform),
        "width": grid.width,
        "height": grid.height,
        "resampling": Resampling[resampling],
        "src_nodata": 0,
        "nodata": 0,
    }
    try:
        with rasterio.Env(**env), rasterio.open(href) as src, WarpedVRT(src, **warp) as vrt:
            data = vrt.read(1)
    except (RasterioError, OSError, ValueError) as e:
        _mark(key, failed=True)
        raise classify(e, signed) from None  # the cause's message may carry the signed URL
    _mark(key, failed=False)
    return np.asarray(data)
