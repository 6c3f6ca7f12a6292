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

from shared.outside.attrs import check_store_attrs, checked_attrs
from shared.outside.files import (
    JSON_BYTES,
    PIXEL_BUDGET,
    check_output_folder,
    check_raster_header,
    open_image_checked,
    read_json,
    read_raster,
    read_text,
)
from shared.outside.values import (
    check_int,
    check_lonlat,
    check_mapping,
    check_number,
    check_number_list,
    check_sample_index,
    check_str_list,
    check_type,
    safe_text,
    shown,
)

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
