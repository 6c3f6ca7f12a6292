"""Test kit for the Earth Engine source: the offline endpoint and expression-graph readers.

The fake sits at the HTTP level: :class:`~collector.sources.earthengine.server.FakeEarthEngine`
serves the REST routes the source uses on 127.0.0.1, and the real earthengine-api client
talks to it. The helpers below read the Cloud API expression graph that a request carries
(as logged by the server, or serialized from an ``ee`` object).
"""

from __future__ import annotations

import json
from typing import Any

from collector.sources.earthengine.graph import invocations
from collector.sources.earthengine.server import FakeEarthEngine, FakeScene, Fault

__all__ = [
    "FakeEarthEngine",
    "FakeScene",
    "Fault",
    "expression_json",
    "values_of",
    "constants",
    "functions",
    "invocations",
]


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
