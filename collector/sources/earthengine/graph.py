"""Reading the Cloud API expression graph that earthengine-api sends (``ee.serializer``).

A graph is ``{"result": key, "values": {key: node}}``; a node is ``{"constantValue": …}``,
``{"arrayValue": {"values": [node…]}}``, ``{"valueReference": key}`` or
``{"functionInvocationValue": {"functionName": …, "arguments": {name: node}}}``. Used by the
offline endpoint (:mod:`collector.sources.earthengine.server`) to answer requests and by
tests to inspect them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["resolve", "constant", "image_constant", "invocations", "chain", "date_ranges"]


def resolve(graph: dict[str, Any], node: Any) -> Any:
    """``node`` with value references followed."""
    while isinstance(node, dict) and "valueReference" in node:
        node = graph["values"][node["valueReference"]]
    return node


def constant(graph: dict[str, Any], node: Any) -> Any:
    """The value of a constant node (lists of constants included), else ``None``."""
    node = resolve(graph, node)
    if not isinstance(node, dict):
        return None
    if "constantValue" in node:
        return node["constantValue"]
    if "arrayValue" in node:
        return [constant(graph, v) for v in node["arrayValue"]["values"]]
    return None


def image_constant(graph: dict[str, Any], node: Any) -> Any:
    """The number of a constant or of an ``Image.constant`` (how ``ee`` sends numbers given
    where an image is expected)."""
    value = constant(graph, node)
    if value is not None:
        return value
    inv = (resolve(graph, node) or {}).get("functionInvocationValue") or {}
    if inv.get("functionName") == "Image.constant":
        return constant(graph, inv["arguments"]["value"])
    return None


def invocations(graph: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Arguments of every invocation of ``name`` anywhere in the graph."""
    out: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            inv = node.get("functionInvocationValue")
            if isinstance(inv, dict) and inv.get("functionName") == name:
                out.append(inv.get("arguments", {}))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(graph.get("values", {}))
    return out


def chain(graph: dict[str, Any], node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(function, arguments)`` of every invocation reachable from ``node``, outermost first."""
    node = resolve(graph, node)
    if not isinstance(node, dict):
        return
    inv = node.get("functionInvocationValue")
    if isinstance(inv, dict):
        args = inv.get("arguments", {})
        yield inv.get("functionName", ""), args
        for value in args.values():
            yield from chain(graph, value)
    elif "arrayValue" in node:
        for value in node["arrayValue"]["values"]:
            yield from chain(graph, value)


def date_ranges(graph: dict[str, Any]) -> list[tuple[int, int]]:
    """``(start_ms, end_ms)`` of every ``DateRange`` in the graph, sorted."""
    return sorted(
        {
            (int(constant(graph, a["start"])), int(constant(graph, a["end"])))
            for a in invocations(graph, "DateRange")
        }
    )
