"""Export store samples as georeferenced GeoTIFFs (needs rasterio: ``pip install 'seco-pipeline[collect]'``).

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

import numpy as np

from shared.layout.native import group_transform
from shared.store.handle import open_store
from shared.store.reader import StoreReader
from shared.validate import ConfigValueError

__all__ = ["export_geotiffs"]


def export_geotiffs(
    location: str | os.PathLike[str], samples: list[int], out: str | os.PathLike[str]
) -> list[Path]:
    """Write ``sample-XXXXXX_season-S.tif`` files for ``samples`` (layout 3: one
    ``sample-XXXXXX_season-S_<group>.tif`` per resolution group); returns their paths."""
    try:
        import rasterio
        from rasterio.transform import Affine
    except ImportError as e:
        raise ImportError(
            "GeoTIFF export needs rasterio: pip install 'seco-pipeline[collect]'"
        ) from e
    store = open_store(location)
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
                        time=str(times[s, season]),
                        product_id=str(products[s, season]),
                        source="SYNTHETIC (generated, not observed)"
                        if store.synthetic
                        else store.source,
                        sample=str(s),
                        season=str(season),
                    )
                paths.append(path)
    return paths
