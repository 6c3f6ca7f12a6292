"""Export store samples as georeferenced GeoTIFFs (needs rasterio: the ``[collect]`` extra).

One multi-band GeoTIFF per sample and season, on the sample's exact UTM grid (CRS and affine
transform from the store), uint16 DN with nodata 0, band descriptions set to the band names,
acquisition time and scene id in the tags, so a patch opens in QGIS in the right place.

A layout-3 store writes one file per resolution group (``…_season-S_10m.tif``, ``_20m``,
``_60m``), each band at its native resolution with its group's own transform (same corner,
20/60 m pixels), as Sentinel-2 products ship them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from shared.layout.native import group_transform
from shared.store.handle import open_store
from shared.store.reader import StoreReader
from shared.validate import ConfigValueError

__all__ = ["export_geotiffs", "season_raster", "geotiff_tags"]


def geotiff_tags(
    store_source: str, synthetic: bool, sample: int, season: int, time: Any, product_id: Any
) -> dict[str, str]:
    """The dataset tags of one exported GeoTIFF (shared by :func:`export_geotiffs` and
    :func:`season_raster`): acquisition time (ms, UTC), scene id, source, sample, season."""
    return {
        "time": str(np.datetime64(time, "ms")),
        "product_id": str(product_id),
        "source": "SYNTHETIC (generated, not observed)" if synthetic else store_source,
        "sample": str(int(sample)),
        "season": str(int(season)),
    }


def season_raster(sample: xr.Dataset, season: int, group: str = "10m") -> xr.DataArray:
    """One season of :func:`shared.access.sample.open_sample`'s ``pixels`` (layout 3: of its
    ``pixels_<group>``, at that group's resolution), attributed so that rioxarray's
    ``.rio.to_raster(path)`` writes what ``python -m shared export-geotiff`` writes: the
    sample's CRS and transform, no data 0, each band's name as its description and the time,
    scene id, source, sample and season tags.

    >>> season_raster(open_sample("datasets/demo.zarr", 0), 0).rio.to_raster("s0.tif")
    """
    native = "pixels" not in sample
    da = (sample[f"pixels_{group}"] if native else sample.pixels).sel(season=season)
    band = f"band_{group}" if native else "band"
    attrs = sample.attrs
    tags = geotiff_tags(
        str(attrs.get("source", "")),
        bool(attrs.get("synthetic")),
        int(attrs.get("sample", -1)),
        season,
        da["time"].values,
        da["product_id"].values,
    )
    keep = {k: da.attrs[k] for k in ("_FillValue", "grid_mapping") if k in da.attrs}
    out = da.drop_vars(["time", "product_id", "season", "lon", "lat"], errors="ignore")
    out.attrs = {**keep, "long_name": [str(b) for b in da[band].values], **tags}
    return out


def export_geotiffs(
    location: str | os.PathLike[str],
    samples: list[int],
    out: str | os.PathLike[str],
    storage_options: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``sample-XXXXXX_season-S.tif`` files for ``samples`` (layout 3: one
    ``sample-XXXXXX_season-S_<group>.tif`` per resolution group); returns their paths."""
    try:
        import rasterio
        from rasterio.transform import Affine
    except ImportError as e:
        raise ImportError(
            "GeoTIFF export needs rasterio, in the [collect] extra: "
            'pip install -e ".[collect]" in a clone of the repository'
        ) from e
    store = open_store(location, "r", storage_options)
    spec = store.spec
    valid = np.asarray(store.array("valid")[:], bool)
    bad = [s for s in samples if not 0 <= s < spec.n_samples or not valid[s]]
    if bad:
        raise ConfigValueError(
            "--samples",
            f"sample(s) {bad} do not hold data (the store has samples 0..{spec.n_samples - 1})",
        )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    reader = StoreReader(store)
    epsg = np.asarray(store.array("epsg")[:])
    transforms = np.asarray(store.array("transform")[:])
    times = np.asarray(store.array("time")[:]).astype("datetime64[ms]")
    products = np.asarray(store.array("product_id")[:])
    paths = []
    for s in samples:
        if store.layout_version >= 3:
            native = reader.native([s])[0]
            parts = [
                (f"_{g}", bands, native.arrays[g], group_transform(transforms[s], g))
                for g, bands in spec.groups.items()
            ]
        else:
            parts = [("", spec.bands, reader.pixels([s])[0], transforms[s])]
        for season in range(spec.n_seasons):
            for suffix, bands, pixels, transform in parts:
                path = folder / f"sample-{s:06d}_season-{season}{suffix}.tif"
                side = pixels.shape[-1]
                profile = {
                    "driver": "GTiff",
                    "dtype": "uint16",
                    "count": len(bands),
                    "height": side,
                    "width": side,
                    "crs": f"EPSG:{int(epsg[s])}",
                    "transform": Affine(*transform),
                    "nodata": 0,
                    "compress": "deflate",
                    "predictor": 2,
                    "tiled": side % 16 == 0,
                }
                with rasterio.open(path, "w", **profile) as dst:
                    dst.write(pixels[season])
                    for i, band in enumerate(bands, start=1):
                        dst.set_band_description(i, band)
                    dst.update_tags(
                        **geotiff_tags(
                            store.source,
                            store.synthetic,
                            s,
                            season,
                            times[s, season],
                            products[s, season],
                        )
                    )
                paths.append(path)
    return paths
