"""Checked reading of outside files (text, JSON, rasters, images: header before pixels) and
of output folders (write only where nothing else lives)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.errors import OutsideFileError, TooLargeError
from shared.outside.values import check_type, safe_text, shown

#: Pixels one image of an outside file may declare (per band): 20000² covers every scene of
#: the datasets read here many times over; a larger header is refused before any allocation.
PIXEL_BUDGET = 20_000 * 20_000 // 4
#: Bytes a JSON side file (labels, config, split) may hold before it is parsed.
JSON_BYTES = 64 * 2**20


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
