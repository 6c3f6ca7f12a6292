"""Offline STAC for the STAC source's tests: a range-capable HTTP server on 127.0.0.1 serving
tiny COGs written here (known patterns, in the patch's UTM zone and in the next zone) and a
minimal STAC API (root catalogue + ``/search``) answering from item JSON built here.

Patterns: every reflectance band is a linear field in the patch CRS,
``value(x, y) = base + (x − X0) / 10 + 3 · (Y0 − y) / 10`` (X0, Y0 = the raster's upper-left
corner), which bilinear resampling reproduces exactly, so 10, 20 and 60 m bands all have a
known value at every 10 m patch pixel.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from collector.sources.base import Location
from shared.bands import L2A_BANDS
from shared.grid import PatchGrid

SIZE = 32
MARGIN_M = 800  # the patch's upper-left corner lies this far inside every raster
EXTENT_M = 1920  # rasters are EXTENT_M square: 192 px at 10 m, 96 at 20 m, 32 at 60 m
GRID = PatchGrid.from_center(7.26, 43.70, SIZE)  # Nice, UTM 32N
X0 = GRID.transform[2] - MARGIN_M
Y0 = GRID.transform[5] + MARGIN_M
RESOLUTION = {b.name: b.resolution_m for b in L2A_BANDS}

TOKEN_PATH = "/api/sas/v1/token"  # as Planetary Computer's: /<account>/<container>
CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
]


def band_base(band: str) -> int:
    """Per-band constant of the linear field: 1100, 1200, … in store order."""
    return 1100 + 100 * [b.name for b in L2A_BANDS].index(band)


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


@dataclass
class Logged:
    method: str
    path: str
    query: str
    range: str | None
    status: int
    body: dict[str, Any] | None = None


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    #: path → [remaining, status]: the next ``remaining`` requests of that path get ``status``
    fail: dict[str, list[int]] = field(default_factory=dict)
    #: (path, regex on the query string, status): matching requests get ``status`` always
    deny: list[tuple[str, str, int]] = field(default_factory=list)
    #: the first ``search_fail[0]`` searches get status ``search_fail[1]``
    search_fail: list[int] = field(default_factory=lambda: [0, 503])
    #: the first ``token_fail[0]`` token requests get status ``token_fail[1]``
    token_fail: list[int] = field(default_factory=lambda: [0, 503])
    #: True: ``/search`` ignores the ``query`` filter (as servers do with one they lack)
    ignore_query: bool = False
    tokens: int = 0
    log: list[Logged] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests(self, path_part: str = "", method: str | None = None) -> list[Logged]:
        with self.lock:
            return [
                r
                for r in self.log
                if path_part in r.path and (method is None or r.method == method)
            ]


class RangeHandler(BaseHTTPRequestHandler):
    """GET/HEAD with single ``Range: bytes=a-b`` (206 + Content-Range), STAC root and search."""

    protocol_version = "HTTP/1.1"
    state: ServerState  # set on the subclass made per server
    base: str

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log(self, status: int, body: dict[str, Any] | None = None) -> None:
        parts = urlsplit(self.path)
        with self.state.lock:
            self.state.log.append(
                Logged(
                    self.command, parts.path, parts.query, self.headers.get("Range"), status, body
                )
            )

    def _json(self, status: int, obj: Any, body: dict[str, Any] | None = None) -> None:
        self._log(status, body)
        ctype = "application/geo+json" if "features" in obj else "application/json"
        self._send(status, json.dumps(obj).encode(), ctype)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if urlsplit(self.path).path == "/search":
            self._search(body)
        else:
            self._json(404, {"code": "NotFound"})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/":
            return self._json(200, self._root())
        if path.startswith(TOKEN_PATH + "/"):
            return self._token()
        if path == "/search":
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            body: dict[str, Any] = dict(params)
            for key in ("collections", "ids"):
                if key in params:
                    body[key] = params[key].split(",")
            for key in ("intersects", "query"):
                if key in params:
                    body[key] = json.loads(params[key])
            if "limit" in params:
                body["limit"] = int(params["limit"])
            return self._search(body)
        with self.state.lock:
            denied = [
                status
                for deny_path, pattern, status in self.state.deny
                if deny_path == path and re.search(pattern, parts.query)
            ]
            status = denied[0] if denied else 0
            rule = self.state.fail.get(path)
            if not status and rule and rule[0] > 0:
                rule[0] -= 1
                status = rule[1]
            data = self.state.files.get(path)
        if status:
            self._log(status)
            return self._send(status, b"failure planted by the test", "text/plain")
        if data is None:
            self._log(404)
            return self._send(404, b"not found", "text/plain")
        spec = self.headers.get("Range")
        if spec:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", spec.strip())
            if not m:
                self._log(416)
                return self._send(416, b"", "text/plain")
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            if start >= len(data):
                self._log(416)
                return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
            self._log(206)
            return self._send(
                206,
                data[start : end + 1],
                "image/tiff",
                {"Content-Range": f"bytes {start}-{end}/{len(data)}", "Accept-Ranges": "bytes"},
            )
        self._log(200)
        self._send(200, data, "image/tiff", {"Accept-Ranges": "bytes"})

    def _root(self) -> dict[str, Any]:
        return {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "offline",
            "description": "offline STAC API for tests",
            "conformsTo": CONFORMS,
            "links": [
                {"rel": "self", "href": f"{self.base}/", "type": "application/json"},
                {"rel": "root", "href": f"{self.base}/", "type": "application/json"},
                {
                    "rel": "search",
                    "href": f"{self.base}/search",
                    "type": "application/geo+json",
                    "method": "POST",
                },
                {
                    "rel": "search",
                    "href": f"{self.base}/search",
                    "type": "application/geo+json",
                    "method": "GET",
                },
            ],
        }

    def _token(self) -> None:
        """Planetary Computer's token service: ``{"msft:expiry", "token"}`` per container."""
        with self.state.lock:
            failing = self.state.token_fail[0] > 0
            if failing:
                self.state.token_fail[0] -= 1
            else:
                self.state.tokens += 1
            n = self.state.tokens
        if failing:
            return self._json(self.state.token_fail[1], {"message": "Service Unavailable"})
        token = f"st=2021-01-01T00%3A00%3A00Z&se=2099-01-01T00%3A00%3A00Z&sp=rl&sv=2021-06-08&sr=c&sig=TOKEN{n}"
        self._json(200, {"msft:expiry": "2099-01-01T00:00:00Z", "token": token})

    def _search(self, body: dict[str, Any]) -> None:
        with self.state.lock:
            failing = self.state.search_fail[0] > 0
            if failing:
                self.state.search_fail[0] -= 1
            items = list(self.state.items)
        if failing:
            return self._json(self.state.search_fail[1], {"code": "Unavailable"}, body)
        found = [it for it in items if _matches(it, body, self.state.ignore_query)]
        for spec in reversed(body.get("sortby") or []):
            prop = spec["field"].removeprefix("properties.")
            found.sort(
                key=lambda it, p=prop: it["properties"][p], reverse=spec["direction"] == "desc"
            )
        start = int(body.get("token") or 0)
        limit = int(body.get("limit") or 10)
        page = found[start : start + limit]
        links = []
        if start + limit < len(found):
            links.append(
                {
                    "rel": "next",
                    "href": f"{self.base}/search",
                    "method": "POST",
                    "body": {**body, "token": str(start + limit)},
                    "merge": False,
                }
            )
        self._json(200, {"type": "FeatureCollection", "features": page, "links": links}, body)


def _matches(it: dict[str, Any], body: dict[str, Any], ignore_query: bool = False) -> bool:
    if body.get("collections") and it["collection"] not in body["collections"]:
        return False
    if body.get("ids") and it["id"] not in body["ids"]:
        return False
    if body.get("datetime"):
        start, _, end = str(body["datetime"]).partition("/")
        when = np.datetime64(it["properties"]["datetime"].rstrip("Z"), "ms")
        if start not in ("", "..") and when < np.datetime64(start.rstrip("Z"), "ms"):
            return False
        if end not in ("", "..") and when > np.datetime64(end.rstrip("Z"), "ms"):
            return False
    for prop, ops in (body.get("query") or {}).items() if not ignore_query else ():
        value = it["properties"].get(prop)
        for op, ref in ops.items():
            if op == "lt" and not value < ref:
                return False
            if op == "lte" and not value <= ref:
                return False
    return True


class OfflineStac:
    """The running server: ``url``, its ``state``, and helpers to publish files and items."""

    def __init__(self) -> None:
        self.state = ServerState()
        handler = type("Handler", (RangeHandler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        handler.base = self.url
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, path: str, data: bytes) -> str:
        """Serve ``data`` at ``path``; returns its URL."""
        with self.state.lock:
            self.state.files[path] = data
        return f"{self.url}{path}"

    def publish(self, *items: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.items.extend(items)

    def reset(self) -> None:
        with self.state.lock:
            self.state.items.clear()
            self.state.fail.clear()
            self.state.deny.clear()
            self.state.search_fail[:] = [0, 503]
            self.state.token_fail[:] = [0, 503]
            self.state.ignore_query = False
            self.state.log.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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
