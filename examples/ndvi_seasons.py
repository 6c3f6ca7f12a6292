"""NDVI = (B8 − B4) / (B8 + B4) of every location and season, on clear pixels only.

python examples/ndvi_seasons.py datasets/demo.zarr
"""

import sys

import numpy as np

from shared import StoreReader

reader = StoreReader(sys.argv[1], threads=2)
n = reader.spec.n_samples
red_nir = reader.pixels(np.arange(n), bands=["B4", "B8"]).astype("float32")  # (n, S, 2, H, W)
clear = reader.cloud(np.arange(n)) < 40  # (n, S, H, W)
red, nir = red_nir[:, :, 0], red_nir[:, :, 1]
ndvi = np.where(clear & (nir + red > 0), (nir - red) / np.maximum(nir + red, 1), np.nan)
per_season = np.nanmean(ndvi, axis=(2, 3))  # (n, S)
for season in range(per_season.shape[1]):
    values = per_season[:, season]
    print(
        f"season {season}: median NDVI {np.nanmedian(values):.3f} over {np.isfinite(values).sum()} locations"
    )
