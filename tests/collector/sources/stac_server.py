"""The offline STAC API for the STAC source's tests: a range-capable HTTP server on 127.0.0.1
serving COG bytes (with planted failures per path), a root catalogue and ``/search`` answering from
item JSON, and a Planetary Computer-shaped token endpoint. The data it serves is built in
:mod:`tests.collector.sources.stac_fixtures`.
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

TOKEN_PATH = "/api/sas/v1/token"  # as Planetary Computer's: /<account>/<container>
CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "https://api.stacspec.org/v1.0.0/item-search#sort",
]


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
