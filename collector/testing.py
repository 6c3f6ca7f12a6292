"""Test kit: Earth Engine at its API boundary, offline.

``init_ee_offline`` initialises ``ee`` from the algorithm list that earthengine-api ships;
:class:`CannedEarthEngineApi` answers the source's two REST calls (``computeValue``,
``computePixels``) from canned data, optionally after a fixed latency, and records every
request. The source's own request-building code runs unchanged. Used by the tests and by the
Earth Engine throughput benchmark.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np

from collector.sources.earthengine import EarthEngineApi


def init_ee_offline() -> None:
    """``ee.Initialize`` with the algorithm list that earthengine-api ships, no network."""
    import ee
    from ee import apitestcase

    ee.Reset()
    ee.data._install_cloud_api_resource = lambda: None
    ee.data.getAlgorithms = apitestcase.GetAlgorithms
    ee.Initialize(None, "", project="test-project")


def expression_json(obj: Any) -> dict:
    """The Cloud API expression graph that would be sent for an ``ee`` object."""
    import ee

    return json.loads(ee.serializer.toJSON(obj, for_cloud_api=True))


def values_of(node: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a nested expression graph, in order."""
    out: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out += [v] if k == key else values_of(v, key)
    elif isinstance(node, list):
        for v in node:
            out += values_of(v, key)
    return out


def constants(node: Any) -> list[Any]:
    """Every ``constantValue`` in an expression graph."""
    return values_of(node, "constantValue")


def functions(node: Any) -> list[str]:
    """Every ``functionName`` invoked in an expression graph."""
    return values_of(node, "functionName")


def invocations(node: Any, name: str) -> list[dict[str, Any]]:
    """The arguments of every invocation of function ``name`` in an expression graph, in order."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        inv = node.get("functionInvocationValue")
        if isinstance(inv, dict) and inv.get("functionName") == name:
            out.append(inv["arguments"])
        for v in node.values():
            out += invocations(v, name)
    elif isinstance(node, list):
        for v in node:
            out += invocations(v, name)
    return out


def date_ranges(graph: dict) -> list[tuple[int, int]]:
    """``(start_ms, end_ms)`` of every ``DateRange`` in an expression graph, sorted."""
    values = graph.get("values", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and "valueReference" in node:
            return resolve(values[node["valueReference"]])
        return node.get("constantValue") if isinstance(node, dict) else node

    return sorted(
        {
            (int(resolve(args["start"])), int(resolve(args["end"])))
            for args in invocations(graph, "DateRange")
        }
    )


class CannedEarthEngineApi(EarthEngineApi):
    """Answers searches with two scenes per window (1 and 5 days after its start; granule cloud
    3.5 % and 1 %, patch clear 0.97 and 0.99) and pixels with known values.

    Pixel value of scene ``i``, band ``j``: ``1000 + 100·i + j``; cloud probability 5 (clear).
    Class-level state, shared by every instance in the process: ``calls`` records requests,
    ``fail`` holds exceptions to raise on the next calls, ``latency_s`` delays each call.
    """

    calls: list[tuple[str, Any]] = []
    fail: list[BaseException] = []
    latency_s: float = 0.0
    record: bool = True
    _lock = threading.Lock()

    def __init__(
        self,
        project: str,
        url: str | None = None,
        latency_s: float | None = None,
        record: bool | None = None,
    ) -> None:
        super().__init__(project, url)
        if latency_s is not None:
            CannedEarthEngineApi.latency_s = latency_s
        if record is not None:
            CannedEarthEngineApi.record = record

    def initialize(self) -> None:
        """No credentials needed: nothing leaves this process."""
        self._initialize_ee(None)

    def _initialize_ee(self, credentials: Any) -> None:
        import ee

        with CannedEarthEngineApi._lock:
            if not ee.data.is_initialized():
                init_ee_offline()

    def _next_failure(self) -> None:
        if CannedEarthEngineApi.latency_s:
            time.sleep(CannedEarthEngineApi.latency_s)
        with CannedEarthEngineApi._lock:
            failure = CannedEarthEngineApi.fail.pop(0) if CannedEarthEngineApi.fail else None
        if failure is not None:
            raise failure

    def _log(self, kind: str, payload: Any) -> None:
        with CannedEarthEngineApi._lock:
            CannedEarthEngineApi.calls.append(
                (kind, payload if CannedEarthEngineApi.record else None)
            )

    def _compute_value(self, obj: Any) -> Any:
        graph = expression_json(obj)
        self._log("computeValue", graph)
        self._next_failure()
        rows = []
        for w, (start, _end) in enumerate(date_ranges(graph)):
            stamp = str(np.datetime64(start, "ms").astype("datetime64[D]")).replace("-", "")
            rows += [
                [f"{stamp}T103031_{stamp}T103025_T32TNS{w}", start + 86_400_000, 3.5, 0.97],
                [f"{stamp}T113031_{stamp}T113025_T32TNS{w}", start + 5 * 86_400_000, 1.0, 0.99],
            ]
        return rows

    def _compute_pixels(self, request: dict[str, Any]) -> np.ndarray:
        graph = expression_json(request["expression"])
        self._log("computePixels", {**request, "expression": graph})
        self._next_failure()
        names = [str(n) for n in _output_names(graph)]
        size = request["grid"]["dimensions"]["width"]
        data = np.zeros(
            (size, size), dtype=[(n, "u1" if n.endswith("_cloud") else "<u2") for n in names]
        )
        for n in names:
            scene, band = n.split("_", 1)
            i = int(scene[1:])
            data[n] = 5 if band == "cloud" else 1000 + 100 * i + _BAND_ORDER.index(band)
        return data


_BAND_ORDER = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]


def _output_names(graph: dict) -> list[str]:
    """Band names given by every ``Image.rename`` in the graph, in order."""
    names: list[str] = []
    for args in invocations(graph, "Image.rename"):
        for c in constants(args["names"]):
            names.extend(c if isinstance(c, list) else [c])
    return names
