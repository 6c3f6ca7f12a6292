"""Checked reading of files from outside: structure, types, ranges and sizes before any work.

Every reader of something this project did not write (a published dataset, foreign weights, an
edited store attribute) goes through these helpers, so a malformed file fails the same way
everywhere: one :class:`~shared.errors.OutsideFileError` (a ``ValueError``) whose one-line
message names the file (or attribute) and the problem, raised **before** pixels are allocated
or anything is computed (header before pixels: dimensions, dtype and band count against a pixel
budget; JSON against a small schema).

:func:`safe_text` is the one way metadata is printed: control characters (terminal escapes,
carriage returns, bidirectional overrides) come out escaped, never interpreted.

No torch, no dask: ``shared`` stays light.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import AttributeTypeError, OutsideFileError, TooLargeError

__all__ = [
    "PIXEL_BUDGET",
    "JSON_BYTES",
    "safe_text",
    "shown",
    "check_type",
    "check_number",
    "check_int",
    "check_lonlat",
    "check_str_list",
    "check_number_list",
    "check_mapping",
    "check_sample_index",
    "read_json",
    "read_text",
    "check_raster_header",
    "read_raster",
    "open_image_checked",
    "check_store_attrs",
    "checked_attrs",
    "check_output_folder",
]

#: Pixels one image of an outside file may declare (per band): 20000² covers every scene of
#: the datasets read here many times over; a larger header is refused before any allocation.
PIXEL_BUDGET = 20_000 * 20_000 // 4
#: Bytes a JSON side file (labels, config, split) may hold before it is parsed.
JSON_BYTES = 64 * 2**20

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
    for key, rule in {**(optional or {}), **(required or {})}.items():
        if key not in value:
            continue
        if isinstance(rule, (type, tuple)):
            check_type(where, f"{name}.{key}", value[key], rule, error)
        else:
            rule(where, f"{name}.{key}", value[key])
    return dict(value)


def check_sample_index(where: str, i: Any, n: int) -> int:
    """A sample index: an integer (not bool, not a float such as 1.7) in ``[-n, n)``."""
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise IndexError(f"{where}: sample index must be an integer, got {shown(i)}")
    if not -n <= int(i) < n:
        raise IndexError(f"{where}: sample {int(i)} is out of range for {n} samples")
    return int(i) % n if n else int(i)


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


def read_text(path: str | Path, max_bytes: int = JSON_BYTES, what: str = "text file") -> str:
    """The UTF-8 text of ``path`` (at most ``max_bytes``); otherwise :class:`OutsideFileError`
    naming the file (binary content, too large, unreadable)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise TooLargeError(str(p), f"{what} of {size:,} bytes, at most {max_bytes:,} read")
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise OutsideFileError(str(p), f"{what} is not UTF-8 text") from e
    except OSError as e:
        raise OutsideFileError(str(p), f"cannot read the {what} ({e.strerror or e})") from e


def read_json(
    path: str | Path,
    expect: type | tuple[type, ...] = dict,
    max_bytes: int = JSON_BYTES,
    what: str = "JSON file",
) -> Any:
    """The JSON document in ``path`` (UTF-8, at most ``max_bytes``, no NaN/Infinity) whose top
    level is ``expect``; otherwise :class:`OutsideFileError` naming the file."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise OutsideFileError(str(p), f"cannot read the {what} ({e.strerror or e})") from e
    if size > max_bytes:
        raise TooLargeError(str(p), f"{what} of {size:,} bytes, at most {max_bytes:,} read")
    try:
        doc = json.loads(p.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise OutsideFileError(str(p), f"{what} is not UTF-8 text") from e
    except (json.JSONDecodeError, ValueError, RecursionError) as e:
        first = str(e).splitlines()[0][:80] if str(e) else type(e).__name__
        raise OutsideFileError(str(p), f"not a valid {what} ({first})") from e
    except OSError as e:
        raise OutsideFileError(str(p), f"cannot read the {what} ({e.strerror or e})") from e
    return check_type(str(p), "the top level", doc, expect)


def check_raster_header(
    where: str,
    width: int,
    height: int,
    count: int,
    dtype: str,
    *,
    shape: tuple[int, int] | None = None,
    bands: int | None = None,
    dtypes: Iterable[str] | None = None,
    max_pixels: int = PIXEL_BUDGET,
) -> None:
    """Refuse a raster by its header: empty, over ``max_pixels`` per band, another ``shape``
    (height, width), another band count or a dtype not in ``dtypes``."""
    if width < 1 or height < 1:
        raise OutsideFileError(where, f"an empty image ({width}×{height} px)")
    if width * height > max_pixels:
        raise TooLargeError(
            where,
            f"declares {width}×{height} px, over the budget of {max_pixels:,} px per band",
        )
    if shape is not None and (height, width) != tuple(shape):
        raise OutsideFileError(where, f"{height}×{width} px, expected {shape[0]}×{shape[1]}")
    if bands is not None and count != bands:
        raise OutsideFileError(where, f"{count} band(s) in the file, expected {bands}")
    if dtypes is not None:
        allowed = list(dtypes)
        if str(dtype) not in allowed:
            raise OutsideFileError(where, f"{dtype} pixels, expected {' or '.join(allowed)}")


def read_raster(
    path: str | Path,
    indexes: int | list[int] = 1,
    *,
    where: str | None = None,
    shape: tuple[int, int] | None = None,
    bands: int | None = None,
    dtypes: Iterable[str] | None = None,
    max_pixels: int = PIXEL_BUDGET,
    out_shape: tuple[int, ...] | None = None,
    resampling: Any = None,
    georef: bool = False,
) -> Any:
    """Pixels of a GeoTIFF (or any GDAL raster) read only after its header passed
    :func:`check_raster_header`; with ``georef`` ``(pixels, crs, transform)``.

    Raises :class:`OutsideFileError` for a missing, unreadable or mis-shaped file."""
    import rasterio
    from rasterio.errors import RasterioError

    p = Path(path)
    name = where or str(p)
    if not p.is_file():
        raise OutsideFileError(name, "missing file")
    try:
        with rasterio.open(p) as src:
            check_raster_header(
                name,
                src.width,
                src.height,
                src.count,
                src.dtypes[0] if src.count else "none",
                shape=shape,
                bands=bands,
                dtypes=dtypes,
                max_pixels=max_pixels,
            )
            idx = indexes if isinstance(indexes, int) else list(indexes)
            top = idx if isinstance(idx, int) else max(idx, default=0)
            if top > src.count:
                raise OutsideFileError(name, f"{src.count} band(s), band {top} asked for")
            kwargs: dict[str, Any] = {}
            if out_shape is not None:
                kwargs["out_shape"] = out_shape
                if resampling is not None:
                    kwargs["resampling"] = resampling
            values = src.read(idx, **kwargs)
            crs, transform = src.crs, src.transform
    except OutsideFileError:
        raise
    except (RasterioError, OSError, ValueError, MemoryError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise OutsideFileError(name, f"unreadable ({safe_text(first, 120)})") from e
    return (values, crs, transform) if georef else values


def open_image_checked(path: str | Path, max_pixels: int = PIXEL_BUDGET) -> Any:
    """A PIL image opened lazily, its declared size checked before any pixel is decoded
    (PIL's own decompression-bomb guard is replaced by this budget). Close it after use."""
    import warnings

    from PIL import Image

    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # the budget below decides, from the header
            try:
                img = Image.open(p)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except (OSError, ValueError, SyntaxError) as e:
        raise OutsideFileError(str(p), f"not a readable image ({safe_text(e, 100)})") from e
    w, h = img.size
    if w < 1 or h < 1 or w * h > max_pixels:
        img.close()
        if w < 1 or h < 1:
            raise OutsideFileError(str(p), f"an empty image ({w}×{h} px)")
        raise TooLargeError(str(p), f"declares {w}×{h} px, over the budget of {max_pixels:,} px")
    return img


# -- store attributes ---------------------------------------------------------------------------


def _stats_rule(where: str, name: str, value: Any) -> Any:
    stats = check_mapping(
        where,
        name,
        value,
        required={"bands": list, "mean": list, "std": list, "p2": list, "p98": list},
        error=AttributeTypeError,
    )
    bands = check_str_list(where, f"{name}.bands", stats["bands"], error=AttributeTypeError)
    for key in ("mean", "std", "p2", "p98"):
        check_number_list(where, f"{name}.{key}", stats[key], len(bands), error=AttributeTypeError)
    if any(s < 0 for s in stats["std"]):
        raise AttributeTypeError(where, f"{name}.std holds a negative value")
    return stats


def _dict_or_none(where: str, name: str, value: Any) -> Any:
    if value is not None:
        check_mapping(where, name, value, error=AttributeTypeError)
    return value


def _str_list(where: str, name: str, value: Any) -> Any:
    return check_str_list(where, name, value, 10_000, AttributeTypeError)


def _number_or_none(where: str, name: str, value: Any) -> Any:
    if value is not None:
        check_number(where, name, value, error=AttributeTypeError)
    return value


def _int_list_or_none(where: str, name: str, value: Any) -> Any:
    if value is None:
        return value
    if not isinstance(value, list):
        raise AttributeTypeError(where, f"{name} must be a list of integers, found {shown(value)}")
    for i, v in enumerate(value):
        check_int(where, f"{name}[{i}]", v, error=AttributeTypeError)
    return value


_NUMBER = (int, float)
#: ``config.plan`` as a collection writes it (card: "top N cities", "σ km" …)
_PLAN: Schema = {
    "region": str,
    "n": int,
    "seed": int,
    "sigma_km": _NUMBER,
    "cities": int,
    "weighting": str,
    "spares": _NUMBER,
    "shard_samples": int,
    "size": int,
    "seasons": int,
    "offsets_months": _int_list_or_none,
    "window_days": int,
    "reference_start": str,
    "reference_end": str,
}


def _config_rule(where: str, name: str, value: Any) -> Any:
    cfg = check_mapping(
        where,
        name,
        value,
        optional={
            "plan": dict,
            "source": str,
            "collection": str,
            "bands": _str_list,
            "clear_threshold": _number_or_none,
            "granule_cloud_max": _number_or_none,
            "import": str,
            "locations": int,
            "limit": (int, type(None)),
        },
        error=AttributeTypeError,
    )
    if "plan" in cfg:
        check_mapping(where, f"{name}.plan", cfg["plan"], optional=_PLAN, error=AttributeTypeError)
    return cfg


def _recipe_rule(where: str, name: str, value: Any) -> Any:
    if value is None:
        return value
    check_mapping(
        where,
        name,
        value,
        optional={"title": str, "cites": (list, str), "name": str, "differences": _str_list},
        error=AttributeTypeError,
    )
    return value


def _imported_rule(where: str, name: str, value: Any) -> Any:
    if value is None:
        return value
    text: tuple[str, ...] = ("dataset", "format", "folder", "cite", "quantisation", "dn_mapping")
    text += ("resampling", "georeferencing", "cloud_mask", "seasons", "time_and_product_id")
    check_mapping(
        where,
        name,
        value,
        optional={
            **dict.fromkeys(text, str),
            "locations_listed": int,
            "skipped_files": _str_list,
        },
        error=AttributeTypeError,
    )
    return value


#: the root attributes readers rely on, with the shape each must have
_ATTRS: dict[str, Any] = {
    "title": str,
    "source": str,
    "software": str,
    "synthetic": bool,
    "stats": _stats_rule,
    "config": _config_rule,
    "recipe": _recipe_rule,
    "imported_from": _imported_rule,
    "collection_report": _dict_or_none,
    "plan": _dict_or_none,
}


def check_store_attrs(attrs: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The root attributes of a store with the known ones checked for type and shape
    (``stats`` arrays as long as its band list and finite, ``config``/``recipe``/
    ``imported_from``/``plan`` objects …); raises :class:`AttributeTypeError`."""
    for key, rule in _ATTRS.items():
        if key not in attrs:
            continue
        if isinstance(rule, (type, tuple)):
            check_type(where, f"attribute {key}", attrs[key], rule, AttributeTypeError)
        else:
            rule(where, f"attribute {key}", attrs[key])
    return dict(attrs)


def checked_attrs(store: Any) -> dict[str, Any]:
    """``store.attrs`` checked by :func:`check_store_attrs`, named by the store's location."""
    return check_store_attrs(store.attrs, str(getattr(store, "location", "store")))


# -- writing only what is ours --------------------------------------------------------------------

_STORE_MARKERS = ("zarr.json", ".zgroup", ".zarray", ".zattrs")


def check_output_folder(path: str | Path, ours: Iterable[str], flag: str = "--out") -> Path:
    """``path`` if a command may write its files (named ``ours``) there: a new folder, or one
    holding nothing but such files. A file, a store or a folder holding anything else is
    refused (:class:`OutsideFileError`) before anything is written, so it stays byte-identical."""
    p = Path(path)
    where = f"{flag} {safe_text(p)}"
    if p.exists() and not p.is_dir():
        raise OutsideFileError(where, "is a file, not a folder")
    if not p.is_dir():
        return p
    if any((p / m).exists() for m in _STORE_MARKERS):
        raise OutsideFileError(
            where, "is a store; this command never writes into one: choose another folder"
        )
    allowed = set(ours)
    try:
        foreign = sorted(e.name for e in p.iterdir() if e.name not in allowed)
    except OSError as e:
        raise OutsideFileError(where, f"cannot be listed ({e.strerror or e})") from e
    if foreign:
        raise OutsideFileError(
            where,
            f"holds {len(foreign)} file(s) this command did not write (e.g. {shown(foreign[0])}): "
            "choose a new or empty folder",
        )
    return p
