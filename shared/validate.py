"""Typed checks of configuration values: the one code path for CLI flags, recipe TOML and run
config files.

Every configuration dataclass calls :func:`check_fields` first thing in ``__post_init__``, so
a value is checked the same way whichever door it came in by (a flag, a recipe, a TOML/JSON
file, a stored config). A failed check raises :class:`ConfigValueError` (a ``ValueError``)
whose one-line message names the setting, what it expects and what it got; the command-line
runner (:func:`shared.cli.run_command`) turns it into a usage error (exit code 2).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigValueError",
    "Range",
    "check_fields",
    "check_value",
    "check_choice",
    "check_path",
    "check_scheduler_address",
    "check_host_port",
    "check_device_name",
    "check_int_list",
    "check_storage_options",
]

_INT64_MAX = 2**63 - 1


class ConfigValueError(ValueError):
    """A configuration value has the wrong type, is out of range or is not a valid choice."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass(frozen=True)
class Range:
    """Allowed numeric range; ``low_open`` / ``high_open`` exclude the bound itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """``[1, 100]``, ``(0, 1]``, ``[0, ∞)``."""
        lo = "-∞" if self.low is None else _number(self.low)
        hi = "∞" if self.high is None else _number(self.high)
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{left}{lo}, {hi}{right}"

    def contains(self, value: float) -> bool:
        below = self.low is not None and (value < self.low or self.low_open and value == self.low)
        above = self.high is not None and (
            value > self.high or self.high_open and value == self.high
        )
        return not (below or above)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e19 else f"{x:g}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "text"}.get(
        type(value), type(value).__name__
    )


def _check_int(name: str, value: Any, limits: Range | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigValueError(
            name, f"expected an integer, got {_shown(value)} ({_type_name(value)})"
        )
    bound = limits or Range(-_INT64_MAX, _INT64_MAX)
    if not bound.contains(value) or abs(value) > _INT64_MAX:
        raise ConfigValueError(
            name, f"expected an integer in {bound.describe()}, got {_shown(value)}"
        )
    return value


def _check_float(name: str, value: Any, limits: Range | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigValueError(
            name, f"expected a number, got {_shown(value)} ({_type_name(value)})"
        )
    number = float(value) if abs(value) < 1e308 else math.inf
    if not math.isfinite(number):
        raise ConfigValueError(name, f"expected a finite number, got {_shown(value)}")
    if limits is not None and not limits.contains(number):
        raise ConfigValueError(name, f"expected a number in {limits.describe()}, got {value:g}")
    return number


def check_value(name: str, value: Any, kind: Any, limits: Range | None = None) -> Any:
    """``value`` checked against the type ``kind`` (int, float, str, bool, ``X | None``,
    ``tuple[int, ...]``, ``dict[str, Any]``, ``Any``) and ``limits``; returns it normalised
    (an int given for a float becomes a float, a list for a tuple a tuple).

    Raises:
        ConfigValueError: wrong type or out of range.
    """
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return check_value(name, value, inner, limits)
    if kind is Any:
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigValueError(name, f"expected true or false, got {_shown(value)}")
        return value
    if kind is int:
        return _check_int(name, value, limits)
    if kind is float:
        return _check_float(name, value, limits)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigValueError(
                name, f"expected text, got {_shown(value)} ({_type_name(value)})"
            )
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigValueError(name, f"expected a list, got {_shown(value)}")
        item = typing.get_args(kind)[0]
        return tuple(check_value(f"{name}[{i}]", v, item, limits) for i, v in enumerate(value))
    if origin is dict or kind is dict:
        if not isinstance(value, Mapping):
            raise ConfigValueError(name, f"expected a table (JSON object), got {_shown(value)}")
        return dict(value)
    if isinstance(kind, type):
        if not isinstance(value, kind):
            raise ConfigValueError(name, f"expected a {kind.__name__}, got {_shown(value)}")
        return value
    raise TypeError(f"check_value cannot check {name} of type {kind!r}")


def check_fields(obj: Any, limits: Mapping[str, Range] | None = None) -> None:
    """Check every field of the frozen dataclass ``obj`` against its type annotation and the
    ``limits`` given for it, normalising values in place.

    Raises:
        ConfigValueError: the first field of the wrong type or out of range.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        checked = check_value(f.name, value, hints[f.name], (limits or {}).get(f.name))
        if checked is not value:
            object.__setattr__(obj, f.name, checked)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``.

    Raises:
        ConfigValueError: anything else; the message lists the choices.
    """
    options = list(choices)
    if not isinstance(value, str) or value not in options:
        raise ConfigValueError(name, f"expected one of {', '.join(options)}, got {_shown(value)}")
    return value


def check_path(name: str, value: str | Path, kind: str) -> Path:
    """A local path of the given ``kind``: ``"file"`` (an existing file), ``"dir"`` (an
    existing folder), ``"dir-or-new"`` (a folder, or nothing yet: an output location).

    Raises:
        ConfigValueError: the path is missing or of another kind.
    """
    path = Path(value)
    if kind == "file":
        if path.is_dir():
            raise ConfigValueError(name, f"{path} is a folder, expected a file")
        if not path.is_file():
            raise ConfigValueError(name, f"{path} does not exist")
    elif kind == "dir":
        if not path.exists():
            raise ConfigValueError(name, f"{path} does not exist")
        if not path.is_dir():
            raise ConfigValueError(name, f"{path} is a file, expected a folder")
    elif kind == "dir-or-new":
        if path.exists() and not path.is_dir():
            raise ConfigValueError(name, f"{path} exists and is not a folder")
    else:
        raise ValueError(f"unknown path kind {kind!r}")
    return path


_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)"
_SCHEMES = ("tcp", "tls", "ucx", "inproc", "ws", "wss")


def check_host_port(name: str, value: Any, *, port_zero: bool = True) -> str:
    """``host:port`` (``[v6]:port`` for IPv6; ``:port`` for every interface), port 0–65535
    (0: any free port, when ``port_zero``).

    Raises:
        ConfigValueError: not of that form, or the port is out of range.
    """
    if not isinstance(value, str):
        raise ConfigValueError(name, f"expected host:port, got {_shown(value)}")
    m = re.fullmatch(rf"(?P<host>{_HOST})?:(?P<port>\d{{1,6}})", value.strip())
    if not m:
        raise ConfigValueError(
            name, f"expected host:port (e.g. 127.0.0.1:8787), got {_shown(value)}"
        )
    port = int(m["port"])
    if not (0 if port_zero else 1) <= port <= 65535:
        raise ConfigValueError(name, f"port {port} is outside 1–65535")
    return value.strip()


def check_scheduler_address(name: str, value: Any) -> str:
    """A Dask scheduler address: ``threads`` (in-process), ``tcp://host:port`` (or another
    Dask scheme: tls, ucx, ws, wss, inproc) or a bare ``host:port``.

    Raises:
        ConfigValueError: not an address.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigValueError(name, f"expected tcp://host:port or threads, got {_shown(value)}")
    text = value.strip()
    if text == "threads":
        return text
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() not in _SCHEMES:
            raise ConfigValueError(
                name, f"unknown scheme {scheme!r} in {_shown(text)}: use {', '.join(_SCHEMES)}"
            )
        if scheme.lower() == "inproc":
            return text
    else:
        rest = text
    try:
        check_host_port(name, rest, port_zero=False)
    except ConfigValueError as e:
        raise ConfigValueError(
            name, f"expected tcp://host:port, host:port or threads, got {_shown(value)}"
        ) from e
    return text


_DEVICE = re.compile(r"(auto|cpu|mps|cuda|cuda:\d{1,4}|xpu|xpu:\d{1,4})")


def check_device_name(name: str, value: Any) -> str:
    """A torch device name this project runs on: auto, cpu, cuda, cuda:N, mps (syntax only;
    whether it exists is checked where torch is imported).

    Raises:
        ConfigValueError: anything else.
    """
    if not isinstance(value, str) or not _DEVICE.fullmatch(value.strip()):
        raise ConfigValueError(
            name, f"expected auto, cpu, cuda, cuda:N or mps, got {_shown(value)}"
        )
    return value.strip()


def check_int_list(name: str, text: str) -> tuple[int, ...]:
    """``"0,3,6"`` → ``(0, 3, 6)``; at least one item.

    Raises:
        ConfigValueError: an item is not an integer, or there is none.
    """
    items = [t.strip() for t in text.split(",")]
    if not any(items):
        raise ConfigValueError(name, f"expected comma-separated integers, got {_shown(text)}")
    out = []
    for item in items:
        if not re.fullmatch(r"[+-]?\d{1,18}", item):
            raise ConfigValueError(name, f"expected comma-separated integers, got {_shown(text)}")
        out.append(int(item))
    return tuple(out)


def check_storage_options(name: str, value: Any) -> dict[str, Any]:
    """Storage options for an object store: a JSON object (text or a mapping) with text keys,
    e.g. ``{"key": "…", "secret": "…", "client_kwargs": {"endpoint_url": "http://…"}}``.
    The values are remembered as secrets (:func:`shared.secrets.remember_secrets`) and never
    shown in a message.

    Raises:
        ConfigValueError: not JSON, or not an object with text keys.
    """
    import json

    from shared.secrets import remember_secrets

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            where = f"line {e.lineno} column {e.colno}"
            raise ConfigValueError(
                name, f"expected a JSON object, e.g. {_STORAGE_EXAMPLE}; not valid JSON at {where}"
            ) from None
    if not isinstance(value, Mapping):
        raise ConfigValueError(
            name, f"expected a JSON object, e.g. {_STORAGE_EXAMPLE}; got {_type_name(value)}"
        )
    bad = [k for k in value if not isinstance(k, str) or not k]
    if bad:
        raise ConfigValueError(name, "expected an object whose keys are non-empty text")
    options = dict(value)
    remember_secrets(options)
    return options


_STORAGE_EXAMPLE = '{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}'
