"""NDVI = (B8 − B4) / (B8 + B4) on clear pixels, by calendar season and by season index.

python examples/ndvi_seasons.py datasets/demo.zarr

A store's ``season`` is an index: an offset from each location's own reference date (as in
SeCo), so season 0 of one location may be January and of another July. Averaging by index
mixes winter and summer and flattens the cycle; grouping by ``time.dt.season`` (DJF, MAM,
JJA, SON) shows it. (Southern-hemisphere locations have their summer in DJF.)
"""

import sys

from shared import open_dataset

ds = open_dataset(sys.argv[1])  # samples with data, one dask chunk per shard
red = ds.pixels_10m.sel(band_10m="B4").astype("float32")  # (sample, season, y, x)
nir = ds.pixels_10m.sel(band_10m="B8").astype("float32")
clear = (ds.cloud < 40) & (red + nir > 0)  # cloud < 40 % and not no-data
ndvi = ((nir - red) / (nir + red)).where(clear).mean(["y", "x"])  # (sample, season)
ndvi = ndvi.compute()  # reads only B4, B8 and the cloud images

print("by calendar season (time.dt.season):")
by_calendar = ndvi.groupby(ds.time.dt.season)
for name, values in by_calendar:
    print(f"  {name}: median NDVI {float(values.median()):.3f} over {int(values.count())} images")
print("by season index (offsets from each location's reference date; mixes calendar seasons):")
for season in ds.season.values:
    values = ndvi.sel(season=season)
    print(f"  season {int(season)}: {float(values.median()):.3f}")
