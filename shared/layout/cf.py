"""CF attributes of every array of the layout (CF-1.10), so generic tools read the store right.

Each array carries ``long_name``, ``units`` where a quantity has them, its no-data value as
``_FillValue`` and flag tables (``flag_values``/``flag_meanings``) where values are codes. In a
Zarr v3 store xarray expects a floating-point ``_FillValue`` as the base64 of its bytes (NaN
is no JSON number); :func:`fill_attr` writes it that way. Integer fill values are plain JSON.

Plain ``xarray.open_zarr`` applies CF masking: ``pixels`` become float32 with NaN where no
data. ``shared.open_dataset`` keeps the stored dtypes (``mask_and_scale=False``).
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

import numpy as np

from shared.layout.georef import xy_attrs

__all__ = ["CONVENTIONS", "fill_attr", "cf_attrs", "CLOUD_FLAGS"]

CONVENTIONS = "CF-1.10"

#: ``cloud``: values 0 … 100 are a cloud-or-shadow probability in %; these are the named codes.
CLOUD_FLAGS = {0: "clear", 100: "cloud", 255: "no_data"}


def fill_attr(value: Any, dtype: Any) -> Any:
    """``_FillValue`` as a Zarr v3 attribute: for floats the base64 of the little-endian
    float64 bytes (xarray's form, whatever the array's float width), else the plain value."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return base64.standard_b64encode(np.array(value, "<f8").tobytes()).decode()
    if dt.kind == "b":
        return bool(value)
    return int(value)


class SpecFacts(Protocol):
    """What :func:`cf_attrs` reads of a :class:`shared.layout.spec.StoreSpec`."""

    @property
    def collection(self) -> str: ...
    @property
    def crs_units(self) -> str: ...
    @property
    def has_truth(self) -> bool: ...
    @property
    def truth_classes(self) -> tuple[str, ...]: ...
    @property
    def groups(self) -> dict[str, tuple[str, ...]]: ...


def cf_attrs(spec: SpecFacts) -> dict[str, dict[str, Any]]:
    """CF attributes by array name for a store of this spec (see :func:`shared.layout.arrays.array_defs`)."""
    level = "surface" if spec.collection == "L2A" else "top-of-atmosphere"
    nan64, nan32 = fill_attr(np.nan, "float64"), fill_attr(np.nan, "float32")
    units = spec.crs_units
    unit_of_grid = xy_attrs("x", units)["units"]
    out: dict[str, dict[str, Any]] = {
        "pixels": {
            "long_name": f"Sentinel-2 {level} reflectance x 10000 (harmonized digital number)",
            "units": "1",
            "_FillValue": 0,
            "valid_range": [1, 65535],
        },
        "cloud": {
            "long_name": "cloud or cloud-shadow probability",
            "units": "percent",
            "_FillValue": 255,
            "valid_range": [0, 100],
            "flag_values": list(CLOUD_FLAGS),
            "flag_meanings": " ".join(CLOUD_FLAGS.values()),
            "comment": "values between 0 and 100 are probabilities; a pixel is clear below "
            "clear_below; sources with a binary mask write only 0 and 100",
        },
        "clear_fraction": {
            "long_name": "fraction of clear pixels in the patch",
            "units": "1",
            "_FillValue": nan32,
            "valid_range": [0.0, 1.0],
        },
        "time": {
            "long_name": "acquisition time of the chosen scene (UTC)",
            "standard_name": "time",
            "_FillValue": int(np.iinfo(np.int64).min),
        },
        "product_id": {"long_name": "identifier of the chosen scene in its source"},
        "lon": {
            "long_name": "longitude of the patch centre",
            "standard_name": "longitude",
            "units": "degrees_east",
            "_FillValue": nan64,
        },
        "lat": {
            "long_name": "latitude of the patch centre",
            "standard_name": "latitude",
            "units": "degrees_north",
            "_FillValue": nan64,
        },
        "epsg": {
            "long_name": "EPSG code of the sample's coordinate reference system",
            "_FillValue": 0,
        },
        "transform": {
            "long_name": "affine transform of the sample's pixel grid, rasterio order "
            "(a, b, c, d, e, f): x = c + a*col, y = f + e*row at pixel corners",
            "units": unit_of_grid,
            "_FillValue": nan64,
        },
        "x": {**xy_attrs("x", units), "_FillValue": nan64},
        "y": {**xy_attrs("y", units), "_FillValue": nan64},
        "candidate_id": {
            "long_name": "row of the candidate in plan.parquet that filled this slot",
            "_FillValue": -1,
        },
        "valid": {
            "long_name": "the slot holds a sample",
            "flag_values": [0, 1],
            "flag_meanings": "empty_slot sample",
        },
        "shard_done": {
            "long_name": "done-marker of each shard",
            "flag_values": [0, 1],
            "flag_meanings": "pending done",
        },
        "band": {"long_name": "Sentinel-2 band name"},
        "season": {
            "long_name": "season index: offset from the location's reference date in steps of "
            "about 3 months (not a calendar season)",
            "units": "1",
        },
    }
    for g in spec.groups:  # layout 3: one pixel array, band axis and x/y per resolution group
        out[f"pixels_{g}"] = {**out["pixels"], "long_name": out["pixels"]["long_name"] + f" at {g}"}
        out[f"band_{g}"] = {"long_name": f"Sentinel-2 band name ({g} bands)"}
        if g != "10m":
            out[f"x_{g}"] = {**xy_attrs("x", units), "_FillValue": nan64}
            out[f"y_{g}"] = {**xy_attrs("y", units), "_FillValue": nan64}
            for axis in ("x", "y"):
                out[f"{axis}_{g}"]["long_name"] += f" ({g} grid)"
    if spec.has_truth:
        out["landcover"] = {
            "long_name": "ground-truth land cover (synthetic world)",
            "_FillValue": 255,
            "flag_values": list(range(len(spec.truth_classes))),
            "flag_meanings": " ".join(c.replace(" ", "_") for c in spec.truth_classes),
        }
    return out
