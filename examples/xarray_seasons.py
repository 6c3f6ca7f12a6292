"""Open a store with xarray and plot one location through its seasons (true colour).

python examples/xarray_seasons.py datasets/demo.zarr [sample] [out.png]
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from shared import open_dataset

store = sys.argv[1]
sample = int(sys.argv[2]) if len(sys.argv) > 2 else 0
out = sys.argv[3] if len(sys.argv) > 3 else "seasons.png"

ds = open_dataset(store)  # samples with data; `sample` counts those
patch = ds.pixels_10m.isel(sample=sample).sel(band_10m=["B4", "B3", "B2"])  # (season, band, y, x)
rgb = np.clip(patch.values.astype("float32") / 3000.0, 0, 1) ** (1 / 1.3)  # reflectance 0.3 = white
fig, axes = plt.subplots(1, ds.sizes["season"], figsize=(3 * ds.sizes["season"], 3.2))
for season, ax in enumerate(np.atleast_1d(axes)):
    ax.imshow(rgb[season].transpose(1, 2, 0))
    when = ds.time[sample, season]
    ax.set_title(f"season {season}: {str(when.values)[:10]} ({when.dt.season.item()})", fontsize=9)
    ax.axis("off")
tag = "SYNTHETIC " if ds.attrs.get("synthetic") else ""
fig.suptitle(f"{tag}sample {sample} at {float(ds.lat[sample]):.3f}°, {float(ds.lon[sample]):.3f}°")
fig.savefig(out, dpi=80)
print(f"wrote {out}")
