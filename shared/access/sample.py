"""One sample as a georeferenced :class:`xarray.Dataset` that rioxarray and GDAL understand.

>>> ds = open_sample("datasets/demo.zarr", 0)
>>> ds.pixels.dims                       # (season, band, y, x) uint16 DN
>>> import rioxarray                     # the [collect] extra; adds .rio
>>> ds.rio.crs, ds.rio.transform()       # the sample's UTM grid
>>> season_raster(ds, 0).rio.to_raster("s0.tif")  # shared.access.geotiff: = export-geotiff's file

Each sample has its own CRS, so the georeferencing lives on the sample: 1-D ``x``/``y``
pixel-centre coordinates in the CRS's units and a CF grid-mapping variable ``spatial_ref``
(``crs_wkt``, GDAL's ``GeoTransform``) named by every image's ``grid_mapping`` attribute.

A layout-3 store gives one variable per resolution group instead of ``pixels``:
``pixels_10m (season, band_10m, y, x)``, ``pixels_20m (season, band_20m, y_20m, x_20m)``,
``pixels_60m (…, y_60m, x_60m)``, each with its own grid mapping (``spatial_ref``,
``spatial_ref_20m``, ``spatial_ref_60m``), so ``ds.pixels_20m.rio.to_raster`` writes the
20 m bands with their own 20 m transform.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from shared.layout.arrays import array_defs
from shared.layout.cf import CONVENTIONS
from shared.layout.encoding import TIME_FILL
from shared.layout.georef import grid_mapping_attrs, pixel_centres, xy_attrs
from shared.layout.native import group_bands, group_transform
from shared.store.handle import Store, open_store
from shared.store.reader import StoreReader

__all__ = ["open_sample"]


def _attrs(store: Store, name: str) -> dict[str, Any]:
    """CF attributes of an array for an in-memory variable; ``_FillValue`` only on the images,
    where it is the raster's no-data value (rioxarray's ``rio.nodata``), in the array's dtype."""
    d = array_defs(store.spec, store.layout_version)[name]
    attrs = {k: v for k, v in d.attrs.items() if k not in ("_FillValue", "coordinates")}
    if name.startswith("pixels") or name == "cloud":
        attrs["_FillValue"] = np.dtype(d.dtype).type(d.fill_value)
        for key in ("flag_values", "valid_range"):  # CF: in the variable's own type
            if key in attrs:
                attrs[key] = np.asarray(attrs[key], d.dtype)
    return attrs


def open_sample(
    store: Store | str | os.PathLike[str],
    sample: int,
    bands: Sequence[str] | None = None,
    seasons: Sequence[int] | None = None,
    reader: StoreReader | None = None,
) -> xr.Dataset:
    """Sample ``sample`` (its index in the store) as an in-memory, georeferenced Dataset.

    Variables: ``pixels`` (season, band, y, x) uint16 DN (no data 0) — in a layout-3
    store ``pixels_10m``/``pixels_20m``/``pixels_60m`` at native resolution instead —, ``cloud`` (season, y, x)
    uint8 % (no data 255), ``clear_fraction`` (season,); coordinates ``spatial_ref`` (scalar,
    the CF grid mapping; a coordinate, so it travels with each image), ``x``/``y`` (pixel
    centres in the CRS's units), ``band``, ``season``, ``time`` (season,), ``product_id``
    (season,), ``lon``/``lat`` (patch centre). ``bands`` and ``seasons`` select a subset
    (default all). ``reader`` reuses an open :class:`StoreReader`. Works on layout versions
    1 and 2 (coordinates come from ``transform``).

    Raises:
        TypeError: ``sample`` (or a season) is not an integer (``1.7`` is refused, not rounded).
        IndexError: ``sample`` (or a season) is outside the store.
        ValueError: the slot holds no sample (empty, or its shard is not finished).
        KeyError: a band is not in the store.
    """
    st = store if isinstance(store, Store) else open_store(store)
    spec = st.spec
    if isinstance(sample, (bool, np.bool_)) or not isinstance(sample, (int, np.integer)):
        raise TypeError(f"sample must be an integer index, got {sample!r}")  # 1.7 is not sample 1
    if not 0 <= int(sample) < spec.n_samples:
        raise IndexError(f"sample {sample} outside 0..{spec.n_samples - 1}")
    i = int(sample)
    if not (bool(st.array("valid")[i]) and st.done_shards()[i // spec.shard_samples]):
        raise ValueError(f"sample {i} holds no data (an empty slot or an unfinished shard)")
    band_names = list(spec.bands) if bands is None else list(bands)
    season_idx = list(range(spec.n_seasons)) if seasons is None else list(seasons)
    for s in season_idx:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"seasons must be integer indices, got {s!r}")
        if not 0 <= int(s) < spec.n_seasons:
            raise IndexError(f"season {s} outside 0..{spec.n_seasons - 1}")
    season_idx = [int(s) for s in season_idx]
    own_reader = reader is None
    rd = StoreReader(st) if reader is None else reader
    try:
        if st.layout_version >= 3:
            images = rd.native([i], seasons=season_idx, bands=band_names)[0].arrays
        else:
            images = {"": rd.pixels([i], seasons=season_idx, bands=band_names)[0]}
        cloud = rd.cloud([i], seasons=season_idx)[0]
    finally:
        if own_reader:
            rd.close()
    epsg = int(np.asarray(st.array("epsg")[i]))
    transform = np.asarray(st.array("transform")[i], np.float64)
    x, y = pixel_centres(transform, spec.size)
    ms = np.asarray(st.array("time")[i], np.int64)[season_idx]
    time = np.where(ms == TIME_FILL, np.datetime64("NaT"), ms.astype("datetime64[ms]"))
    grid = {"grid_mapping": "spatial_ref"}
    variables: dict[str, Any] = {}
    coords: dict[str, Any] = {}
    if "" in images:  # layouts 1-2: every band on the 10 m grid
        variables["pixels"] = (
            ("season", "band", "y", "x"),
            images[""],
            {**_attrs(st, "pixels"), **grid},
        )
        coords["band"] = ("band", np.array(band_names, dtype=object), _attrs(st, "band"))
    else:
        for g, names in group_bands(band_names).items():
            sfx = "" if g == "10m" else f"_{g}"
            t = group_transform(transform, g)
            gx, gy = pixel_centres(t, spec.group_size(g))
            variables[f"pixels_{g}"] = (
                ("season", f"band_{g}", f"y{sfx}", f"x{sfx}"),
                images[g],
                {**_attrs(st, f"pixels_{g}"), "grid_mapping": f"spatial_ref{sfx}"},
            )
            coords[f"band_{g}"] = (f"band_{g}", np.array(names, dtype=object), _attrs(st, "band"))
            if sfx:
                coords[f"spatial_ref{sfx}"] = ((), np.int32(0), grid_mapping_attrs(epsg, t))
                coords[f"x{sfx}"] = (f"x{sfx}", gx[0], xy_attrs("x", spec.crs_units))
                coords[f"y{sfx}"] = (f"y{sfx}", gy[0], xy_attrs("y", spec.crs_units))
    ds = xr.Dataset(
        {
            **variables,
            "cloud": (("season", "y", "x"), cloud, {**_attrs(st, "cloud"), **grid}),
            "clear_fraction": (
                ("season",),
                np.asarray(st.array("clear_fraction")[i])[season_idx],
                _attrs(st, "clear_fraction"),
            ),
        },
        coords={
            "spatial_ref": ((), np.int32(0), grid_mapping_attrs(epsg, transform)),
            "x": ("x", x[0], xy_attrs("x", spec.crs_units)),
            "y": ("y", y[0], xy_attrs("y", spec.crs_units)),
            **coords,
            "season": ("season", np.asarray(season_idx, np.int16), _attrs(st, "season")),
            "time": (
                "season",
                time.astype("datetime64[ns]"),
                {"long_name": "acquisition time (UTC)"},
            ),
            "product_id": (
                "season",
                np.asarray(st.array("product_id")[i], dtype=object)[season_idx],
                _attrs(st, "product_id"),
            ),
            "lon": ((), float(np.asarray(st.array("lon")[i])), _attrs(st, "lon")),
            "lat": ((), float(np.asarray(st.array("lat")[i])), _attrs(st, "lat")),
        },
        attrs={
            "Conventions": CONVENTIONS,
            "title": st.attrs.get("title", ""),
            "source": st.source,
            "synthetic": int(st.synthetic),
            "sample": i,
            "epsg": epsg,
        },
    )
    if "" not in images:  # several grids: the dataset's own (ds.rio.crs, transform) is 10 m
        ds.attrs["grid_mapping"] = "spatial_ref"
    return ds
