"""Checked values from outside: types, numbers, coordinates, lists, objects; text made safe
to print (control characters escaped, never interpreted)."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shared.errors import OutsideFileError

_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}


def safe_text(value: Any, limit: int | None = None) -> str:
    """``value`` as printable one-line text: control characters (C0, DEL, C1, line and
    paragraph separators, bidirectional overrides) escaped as ``\\x1b``, ``\\n``, ``\\u202e``;
    cut to ``limit`` characters with ``…`` when given."""
    text = value if isinstance(value, str) else str(value)
    out = []
    for ch in text:
        if ch in _BIDI or (unicodedata.category(ch) in ("Cc", "Zl", "Zp")):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    text = "".join(out)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def shown(value: Any, limit: int = 40) -> str:
    """A short, safe ``repr`` of a found value for an error message."""
    return safe_text(repr(value), limit)


def _type_name(types: type | tuple[type, ...]) -> str:
    names = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true/false",
        "dict": "an object",
        "list": "a list",
        "Mapping": "an object",
    }
    ts = types if isinstance(types, tuple) else (types,)
    return " or ".join(dict.fromkeys(names.get(t.__name__, t.__name__) for t in ts))


def check_type(
    where: str,
    name: str,
    value: Any,
    types: type | tuple[type, ...],
    error: type = OutsideFileError,
) -> Any:
    """``value`` if it is an instance of ``types`` (a bool is never a number), else raise
    ``error`` naming ``where`` and ``name``."""
    ts = types if isinstance(types, tuple) else (types,)
    numeric = any(t in (int, float) for t in ts) and bool not in ts
    if not isinstance(value, ts) or (numeric and isinstance(value, bool)):
        raise error(where, f"{name} must be {_type_name(types)}, found {shown(value)}")
    return value


def check_number(
    where: str,
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    error: type = OutsideFileError,
) -> float:
    """A finite real number in ``[low, high]`` (NumPy scalars accepted), as ``float``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise error(where, f"{name} must be a number, found {shown(value)}")
    x = float(value)
    if not math.isfinite(x):
        raise error(where, f"{name} must be finite, found {x}")
    if (low is not None and x < low) or (high is not None and x > high):
        lo = "-∞" if low is None else f"{low:g}"
        hi = "∞" if high is None else f"{high:g}"
        raise error(where, f"{name} {x:g} is outside [{lo}, {hi}]")
    return x


def check_int(
    where: str,
    name: str,
    value: Any,
    low: int | None = None,
    high: int | None = None,
    error: type = OutsideFileError,
) -> int:
    """An integer (Python or NumPy, not bool, not a float) in ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise error(where, f"{name} must be an integer, found {shown(value)}")
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        raise error(where, f"{name} {n} is outside [{low}, {high}]")
    return n


def check_lonlat(
    where: str, lon: Any, lat: Any, error: type = OutsideFileError
) -> tuple[float, float]:
    """(lon, lat) in degrees: finite, lon in [-180, 180], lat in [-90, 90]."""
    return (
        check_number(where, "longitude", lon, -180, 180, error),
        check_number(where, "latitude", lat, -90, 90, error),
    )


def check_str_list(
    where: str, name: str, value: Any, max_items: int = 1_000_000, error: type = OutsideFileError
) -> list[str]:
    """A list of strings (at most ``max_items``)."""
    if not isinstance(value, list):
        raise error(where, f"{name} must be a list of strings, found {shown(value)}")
    if len(value) > max_items:
        raise error(where, f"{name} holds {len(value)} items, at most {max_items} allowed")
    bad = next((v for v in value if not isinstance(v, str)), None)
    if bad is not None or any(not isinstance(v, str) for v in value):
        raise error(where, f"{name} must be a list of strings, found an item {shown(bad)}")
    return list(value)


def check_number_list(
    where: str,
    name: str,
    value: Any,
    length: int | None = None,
    low: float | None = None,
    high: float | None = None,
    error: type = OutsideFileError,
) -> list[float]:
    """A list of finite numbers (``length`` of them when given) in ``[low, high]``."""
    if not isinstance(value, list):
        raise error(where, f"{name} must be a list of numbers, found {shown(value)}")
    if length is not None and len(value) != length:
        raise error(where, f"{name} holds {len(value)} numbers, expected {length}")
    return [check_number(where, f"{name}[{i}]", v, low, high, error) for i, v in enumerate(value)]


#: a schema: key → types, or key → a checking function ``(where, name, value) -> value``
Schema = Mapping[str, "type | tuple[type, ...] | Callable[[str, str, Any], Any]"]


def check_mapping(
    where: str,
    name: str,
    value: Any,
    required: Schema | None = None,
    optional: Schema | None = None,
    error: type = OutsideFileError,
) -> dict[str, Any]:
    """``value`` as a dict whose ``required`` keys are present and whose keys of either schema
    have the stated types (other keys pass unchecked)."""
    if not isinstance(value, Mapping):
        raise error(where, f"{name} must be an object (a mapping), found {shown(value)}")
    for key in required or {}:
        if key not in value:
            raise error(where, f"{name} lacks the key {key!r}")
    apply_schema(where, f"{name}.", value, {**(optional or {}), **(required or {})}, error)
    return dict(value)


def apply_schema(
    where: str,
    prefix: str,
    value: Mapping[str, Any],
    schema: Schema,
    error: type = OutsideFileError,
) -> None:
    """Check each key of ``value`` that ``schema`` names: a type (or tuple of types) by
    :func:`check_type`, else the rule function ``rule(where, prefix + key, item)``."""
    for key, rule in schema.items():
        if key not in value:
            continue
        if isinstance(rule, (type, tuple)):
            check_type(where, prefix + key, value[key], rule, error)
        else:
            rule(where, prefix + key, value[key])


def check_sample_index(where: str, i: Any, n: int) -> int:
    """A sample index: an integer (not bool, not a float such as 1.7) in ``[-n, n)``."""
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise IndexError(f"{where}: sample index must be an integer, got {shown(i)}")
    if not -n <= int(i) < n:
        raise IndexError(f"{where}: sample {int(i)} is out of range for {n} samples")
    return int(i) % n if n else int(i)
