"""An offline Earth Engine REST endpoint on 127.0.0.1, for tests and benchmarks.

The real earthengine-api client runs unchanged against it (its discovery-based resource,
request serialization, token refresh and error translation): the source is pointed here with
its ``url`` option and authenticates with a service-account key whose ``token_uri`` is this
server's ``/token`` (:meth:`FakeEarthEngine.service_account_key`). Routes:

- ``GET /$discovery/rest`` — the discovery document earthengine-api ships for its tests;
- ``GET …/algorithms`` — the algorithm list it ships;
- ``POST /token`` — OAuth2 token endpoint: a new bearer token ``tok-N`` per call;
- ``POST …/value:compute`` — the source's scene search, answered from :attr:`world`;
- ``POST …/image:computePixels`` — an NPY structured array, one field per output band.

The search answer follows ``reduceColumns(toList)``: a row holding a null is dropped. The
pixel answer follows ``Image.unmask``: a pixel outside a scene's footprint stays masked (and
reads 0) unless the chain that made its band calls ``unmask(value, sameFootprint=False)``.
API calls need ``Authorization: Bearer`` with a live token, else 401 ``UNAUTHENTICATED``.
Failures are planted per call (:attr:`faults`) or drawn at :attr:`error_rate`; every request
is logged with its JSON body (:attr:`log`).
"""

from __future__ import annotations

import io
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from collector.sources.earthengine.graph import (
    chain,
    constant,
    date_ranges,
    image_constant,
    invocations,
)

__all__ = ["FakeEarthEngine", "FakeScene", "Fault", "Logged", "json_error", "HTML_502"]

DAY_MS = 86_400_000
CLOUDY_SCORE = 0.3  # cs_cdf of a cloudy pixel: cloud probability 70 %
CLEAR_SCORE = 0.95  # cs_cdf of a clear pixel: cloud probability 5 %
HTML_502 = (
    b"<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 502 (Server Error)!!1"
    b"</title><p><b>502.</b> <ins>That\xe2\x80\x99s an error.</ins><p>The server encountered a "
    b"temporary error and could not complete your request.<p>Please try again in 30 seconds."
    b"  <ins>That\xe2\x80\x99s all we know.</ins></html>"
)


def json_error(code: int, message: str, status: str) -> bytes:
    """A Google API error body: ``{"error": {"code", "message", "status"}}``."""
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


@dataclass(frozen=True)
class FakeScene:
    """One scene of the fake catalogue and what its pixels hold.

    ``coverage``: the fraction of the patch's columns (from the left) inside the granule's
    footprint; ``clear``: the fraction of rows (from the bottom) with ``cs_cdf`` 0.95, the
    others 0.3; ``scored``: whether a Cloud Score+ image exists; band ``j`` of the band table
    reads ``dn + j`` inside the footprint. ``texture``: each band instead varies from sensor
    pixel to sensor pixel on its own 10/20/60 m lattice of the zone (:func:`native_texture`),
    and a request resampled ``nearest`` (Earth Engine's default) answers each 10 m pixel with
    the value of the sensor pixel its centre falls in, as Earth Engine does.
    """

    id: str
    time_ms: int
    granule_cloud: float
    clear: float = 0.97
    coverage: float = 1.0
    scored: bool = True
    dn: int = 1000
    texture: bool = False


@dataclass(frozen=True)
class Fault:
    """One planted answer: ``status`` with ``body``, or ``stall`` (never answer)."""

    status: int = 503
    body: bytes = b""
    content_type: str = "application/json; charset=UTF-8"
    stall: bool = False


@dataclass
class Logged:
    method: str
    path: str
    status: int
    authorization: str | None
    body: Any = None


def default_world(window: int, start_ms: int) -> list[FakeScene]:
    """Two scenes per window, 1 and 5 days after its start: granule 3.5 % / clear 0.97 / DN
    1000 + band index and granule 1 % / clear 0.99 / DN 2000 + band index (the better one)."""
    stamp = str(np.datetime64(start_ms, "ms").astype("datetime64[D]")).replace("-", "")
    return [
        FakeScene(f"{stamp}T103031_{stamp}T103025_T32TLP{window}", start_ms + DAY_MS, 3.5, 0.97),
        FakeScene(
            f"{stamp}T113031_{stamp}T113025_T32TLP{window}",
            start_ms + 5 * DAY_MS,
            1.0,
            0.99,
            dn=2000,
        ),
    ]


_BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
_RESOLUTION = dict(zip(_BANDS, (60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20), strict=True))


def native_texture(band: str, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Offsets 0…96 of the sensor pixels of ``band`` with zone indices ``cols``/``rows``.

    Sensor pixel (col, row) of a band at ``r`` m covers x in [r·col, r·(col+1)) and y in
    (r·(row-1), r·row] of its UTM zone (tile origins are multiples of 60 m).
    """
    return (cols * 7 + rows * 13) % 97


def sensor_grid(band: str, grid: dict[str, Any], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Zone indices of the sensor pixel of ``band`` under each pixel centre of a request grid."""
    t = grid["affineTransform"]
    r = _RESOLUTION[band]
    x = t["translateX"] + (np.arange(size) + 0.5) * t["scaleX"]
    y = t["translateY"] + (np.arange(size) + 0.5) * t["scaleY"]
    cols = np.floor(x / r).astype(np.int64)
    rows = np.ceil(y / r).astype(np.int64)
    return np.broadcast_to(cols[None, :], (size, size)), np.broadcast_to(
        rows[:, None], (size, size)
    )


class FakeEarthEngine:
    """The running endpoint: ``url``, planted behaviour and the request log."""

    def __init__(self, latency_s: float = 0.0, error_rate: float = 0.0, seed: int = 0) -> None:
        import ee

        shipped = Path(ee.__file__).parent / "tests"
        self.discovery = (shipped / "cloud_api_discovery_document.json").read_bytes()
        self.algorithms = (shipped / "algorithms.json").read_bytes()
        self.world: Callable[[int, int], list[FakeScene]] = default_world
        self.faults: list[Fault] = []
        self.latency_s = latency_s
        self.error_rate = error_rate
        self.log: list[Logged] = []
        self.record_bodies = True
        self.scenes: dict[str, FakeScene] = {}
        self.tokens_issued = 0
        self.live_tokens: set[str] = set()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    # -- helpers for tests -----------------------------------------------------------------

    def service_account_key(self) -> dict[str, Any]:
        """A service-account key (fresh RSA key) whose token endpoint is this server."""
        return {**_key_material(), "token_uri": f"{self.url}/token"}

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 401 from now on (as an expired one does)."""
        with self._lock:
            self.live_tokens.clear()

    def requests(self, part: str = "", method: str | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if part in r.path and method in (None, r.method)]

    def api_calls(self) -> list[Logged]:
        """The logged ``value:compute`` and ``image:computePixels`` requests, in order."""
        with self._lock:
            return [r for r in self.log if r.path.endswith((":compute", ":computePixels"))]

    def reset(self) -> None:
        with self._lock:
            self.log.clear()
            self.faults.clear()
            self.world = default_world
            self.error_rate = 0.0

    def close(self) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- answers ---------------------------------------------------------------------------

    def _issue_token(self) -> bytes:
        with self._lock:
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self.live_tokens.add(token)
        return json.dumps(
            {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        ).encode()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self.faults:
                return self.faults.pop(0)
            if self.error_rate and self._rng.random() < self.error_rate:
                return Fault(
                    503, json_error(503, "The service is currently unavailable.", "UNAVAILABLE")
                )
        return None

    def compute_value(self, body: dict[str, Any]) -> tuple[int, bytes, str]:
        graph = body["expression"]
        selectors = next(
            (
                constant(graph, args["selectors"])
                for args in invocations(graph, "Collection.reduceColumns")
            ),
            None,
        )
        if selectors is None:
            return (
                400,
                json_error(400, "Unsupported expression for the fake.", "INVALID_ARGUMENT"),
                "json",
            )
        fills_footprint = any(
            constant(graph, args.get("sameFootprint")) is False
            for args in invocations(graph, "Image.unmask")
        )
        rows = []
        for window, (start, _end) in enumerate(date_ranges(graph)):
            for scene in self.world(window, start):
                with self._lock:
                    self.scenes[scene.id] = scene
                row = [_property(scene, name, fills_footprint) for name in selectors]
                if all(v is not None for v in row):  # ee.Reducer.toList drops rows with a null
                    rows.append(row)
        return 200, json.dumps({"result": rows}).encode(), "json"

    def compute_pixels(self, body: dict[str, Any]) -> tuple[int, bytes, str]:
        graph = body["expression"]
        size = int(body["grid"]["dimensions"]["width"])
        bands: list[tuple[str, str, Any]] = []  # (name, dtype, filler)
        for args in invocations(graph, "Image.rename"):
            names = constant(graph, args["names"])
            steps = list(chain(graph, args["input"]))
            dtype = "u1" if any(n == "Image.toUint8" for n, _ in steps) else "<u2"
            unmask = next((a for n, a in steps if n == "Image.unmask"), None)
            fill = None
            if unmask is not None and constant(graph, unmask.get("sameFootprint")) is False:
                fill = image_constant(graph, unmask["value"])
            loads = [str(constant(graph, a["id"])) for n, a in steps if n == "Image.load"]
            selected = next(
                (constant(graph, a["bandSelectors"]) for n, a in steps if n == "Image.select"),
                None,
            )
            fixed = next(
                (constant(graph, a["value"]) for n, a in steps if n == "Image.constant"), None
            )
            for k, name in enumerate(names):
                source = selected[k] if selected and k < len(selected) else None
                bands.append((name, dtype, (loads, source, fill, fixed)))
        out = np.zeros((size, size), dtype=[(n, d) for n, d, _ in bands])
        for name, _dtype, (loads, source, fill, fixed) in bands:
            if not loads:
                out[name] = fixed or 0
                continue
            asset = loads[0]
            scene = self.scenes.get(asset.rsplit("/", 1)[-1])
            if scene is None or ("CLOUD_SCORE_PLUS" in asset and not scene.scored):
                message = (
                    f"Image.load: Image asset '{asset}' not found (does not exist or caller "
                    "does not have access)."
                )
                return 400, json_error(400, message, "INVALID_ARGUMENT"), "json"
            inside = np.zeros((size, size), bool)
            inside[:, : int(round(scene.coverage * size))] = True
            if "CLOUD_SCORE_PLUS" in asset:
                cloudy_rows = int(round((1 - scene.clear) * size))
                score = np.full((size, size), CLEAR_SCORE)
                score[:cloudy_rows] = CLOUDY_SCORE
                value = np.round(100 * (1 - score))
            else:
                value = np.full((size, size), scene.dn + _BANDS.index(str(source)))
                if scene.texture:
                    value = value + native_texture(
                        str(source), *sensor_grid(str(source), body["grid"], size)
                    )
            out[name] = np.where(inside, value, fill or 0)
        buf = io.BytesIO()
        np.save(buf, out, allow_pickle=False)
        return 200, buf.getvalue(), "npy"


def _property(scene: FakeScene, name: str, fills_footprint: bool) -> Any:
    """A search column of ``scene`` as the server would compute it."""
    if name == "system:index":
        return scene.id
    if name == "system:time_start":
        return scene.time_ms
    if name == "CLOUDY_PIXEL_PERCENTAGE":
        return scene.granule_cloud
    if name == "seco_scored":
        return scene.coverage if scene.scored else (0.0 if fills_footprint else None)
    if name == "seco_clear":
        if not scene.scored:  # the linked band is fully masked
            return 0.0 if fills_footprint else None
        return scene.clear * scene.coverage if fills_footprint else scene.clear
    return None


_KEY_CACHE: dict[str, Any] = {}


def _key_material() -> dict[str, Any]:
    """A service-account key body with a real RSA key, made once per process."""
    if not _KEY_CACHE:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        _KEY_CACHE.update(
            {
                "type": "service_account",
                "project_id": "test-project",
                "private_key_id": "PLANTED0KEY0ID0d41d8cd98f00b204e9800998ecf8427e",
                "private_key": pem,
                "client_email": "collector@test-project.iam.gserviceaccount.com",
                "client_id": "1234567890",
            }
        )
    return dict(_KEY_CACHE)


_API = re.compile(r"^/v1[a-z0-9]*/projects/[^/]+/(algorithms|value:compute|image:computePixels)$")
_TYPES = {"json": "application/json; charset=UTF-8", "npy": "application/octet-stream"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeEarthEngine

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm holds the
        # body until the client's delayed ACK (≈ 40 ms per request on Linux)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _log(self, status: int, body: Any = None) -> None:
        state = self.server_state
        entry = Logged(
            self.command,
            self.path.split("?")[0],
            status,
            self.headers.get("Authorization"),
            body if state.record_bodies else None,
        )
        with state._lock:
            state.log.append(entry)

    def do_GET(self) -> None:
        self._route(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        self._route(raw)

    def _route(self, raw: bytes | None) -> None:
        state = self.server_state
        path = self.path.split("?")[0]
        if path == "/$discovery/rest":
            self._log(200)
            return self._send(200, state.discovery, _TYPES["json"])
        if path == "/token":
            self._log(200)
            return self._send(200, state._issue_token(), _TYPES["json"])
        match = _API.match(path)
        if match is None:
            self._log(404)
            return self._send(404, json_error(404, "Not found.", "NOT_FOUND"), _TYPES["json"])
        auth = self.headers.get("Authorization") or ""
        with state._lock:
            live = auth.removeprefix("Bearer ") in state.live_tokens
        body: dict[str, Any] = json.loads(raw) if raw else {}
        if not live:
            self._log(401, body)
            message = (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential."
            )
            return self._send(401, json_error(401, message, "UNAUTHENTICATED"), _TYPES["json"])
        if match.group(1) == "algorithms":
            self._log(200)
            return self._send(200, state.algorithms, _TYPES["json"])
        if state.latency_s:
            time.sleep(state.latency_s)
        fault = state._next_fault()
        if fault is not None:
            self._log(fault.status, body)
            if fault.stall:  # hold the connection open, answer nothing
                state._closing.wait(60)
                self.close_connection = True
                return None
            return self._send(fault.status, fault.body, fault.content_type)
        if match.group(1) == "value:compute":
            status, payload, kind = state.compute_value(body)
        else:
            status, payload, kind = state.compute_pixels(body)
        self._log(status, body)
        self._send(status, payload, _TYPES[kind])
