"""Tiny BigEarthNet v1 and v2 (reBEN) copies in the released layouts: one GeoTIFF per band at
its native size (120 px at 10 m, 60 px at 20 m, 20 px at 60 m), v1's per-patch label JSON and
exclusion lists, v2's ``metadata.parquet``. Pixel values say which patch and band they are, and
labels are drawn so that a probe can learn them from the pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.trainer.evaluate.fixtures import write_tif

L2A_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
PIXELS = {"B02": 120, "B03": 120, "B04": 120, "B08": 120, "B01": 20, "B09": 20}  # others 60

#: labels of the fixture patches, chosen so that dropped 43-class names and merges both occur
V1_LABELS = (
    ["Continuous urban fabric", "Discontinuous urban fabric"],  # both → Urban fabric
    ["Coniferous forest", "Airports"],  # Airports is dropped in 19 classes
    ["Sea and ocean"],
    ["Non-irrigated arable land", "Rice fields", "Pastures"],
)


def band_value(patch: int, band: str) -> int:
    return 100 * (patch + 1) + L2A_BANDS.index(band) + 1


def _write_patch(folder: Path, name: str, patch: int, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for band in L2A_BANDS:
        size = PIXELS.get(band, 60)
        data = np.full((1, size, size), band_value(patch, band), np.uint16)
        data += rng.integers(0, 3, data.shape, dtype=np.uint16)  # a little texture
        write_tif(folder / f"{name}_{band}.tif", data, x0=400_000 + 1200 * patch)


def make_bigearthnet_v1(root: Path, n: int = 12, split_lists: bool = True) -> list[str]:
    """``root/BigEarthNet-v1.0/<patch>/…`` with ``n`` patches plus one snowy and one cloudy
    patch named in the exclusion lists; official split lists (``S2name,S1name``) unless
    ``split_lists`` is False. Returns the kept patch names in creation order."""
    rng = np.random.default_rng(0)
    folder = root / "BigEarthNet-v1.0"
    names = []
    for p in range(n + 2):
        name = f"S2A_MSIL2A_20170613T101031_{p // 10}_{p % 10 + 30}"
        _write_patch(folder / name, name, p, rng)
        meta = {
            "labels": V1_LABELS[p % len(V1_LABELS)],
            "coordinates": {
                "ulx": 400000 + 1200 * p,
                "uly": 5000000,
                "lrx": 401200,
                "lry": 4998800,
            },
            "projection": 'PROJCS["WGS 84 / UTM zone 32N"]',
            "tile_source": "S2A_MSIL1C_20170613T101031_N0205_R022_T32TQR_20170613T101608",
            "acquisition_date": "2017-06-13 10:10:31",
        }
        (folder / name / f"{name}_labels_metadata.json").write_text(json.dumps(meta))
        names.append(name)
    (root / "patches_with_seasonal_snow.csv").write_text(names[n] + "\n")
    (root / "patches_with_cloud_and_shadow.csv").write_text(names[n + 1] + "\n")
    (folder / "stray.txt").write_text("not a patch")
    kept = names[:n]
    if split_lists:
        thirds = {
            "train": kept[: n // 2],
            "val": kept[n // 2 : 3 * n // 4],
            "test": kept[3 * n // 4 :],
        }
        for split, members in thirds.items():
            lines = [
                f"{m},S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{i}" for i, m in enumerate(members)
            ]
            (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return kept


def v2_patch_id(p: int) -> str:
    return f"S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_{p // 10 + 26}_{p % 10 + 57}"


def make_bigearthnet_v2(root: Path, n: int = 16) -> list[str]:
    """``root/BigEarthNet-S2/<tile>/<patch_id>/…`` and ``root/metadata.parquet`` with ``n``
    usable patches (train/validation/test) plus one flagged as snowy. The label of each patch is
    'Coniferous forest' when its B04 value is high and 'Marine waters' otherwise, so a probe
    can learn it. Returns the usable patch ids."""
    rng = np.random.default_rng(1)
    rows = []
    for p in range(n + 1):
        pid = v2_patch_id(p)
        tile = pid.rsplit("_", 2)[0]
        _write_patch(root / "BigEarthNet-S2" / tile / pid, pid, p, rng)
        split = ("train", "train", "validation", "test")[p % 4]
        high = band_value(p, "B04") > band_value(n // 2, "B04")
        labels = ["Coniferous forest"] if high else ["Marine waters"]
        if p % 3 == 0:
            labels = [*labels, "Urban fabric"]
        rows.append(
            {
                "patch_id": pid,
                "labels": np.array(labels, dtype=object),
                "split": split,
                "country": "Austria",
                "s1_name": f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{p}",
                "s2v1_name": f"S2A_MSIL2A_20170613T101031_{p}",
                "contains_seasonal_snow": p == n,
                "contains_cloud_or_shadow": False,
            }
        )
    pd.DataFrame(rows).sample(frac=1.0, random_state=0).to_parquet(root / "metadata.parquet")
    return [v2_patch_id(p) for p in range(n)]
