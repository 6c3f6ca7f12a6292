"""The dataset card, the GeoTIFF export and the torch Dataset, checked against the store."""

from __future__ import annotations

import re

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (the card's example uses .rio)
import torch

from shared.access.geotiff import export_geotiffs
from shared.access.torch_dataset import SeasonalPatches
from shared.publish.card import write_card
from shared.store.handle import open_store
from shared.store.reader import StoreReader
from tests.conftest import collected_store, run_module


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A finished synthetic collection (index, report, map) of 16 locations."""
    return collected_store(
        tmp_path_factory,
        "kit",
        *("--recipe", "demo", "--n", "16", "--size", "36"),
        *("--shard-samples", "8"),
    )


def test_card_matches_the_store(collected):
    path = write_card(str(collected))
    text = (collected / "card.md").read_text()
    assert path.endswith("card.md") and (collected / "card_months.png").stat().st_size > 0
    store = open_store(collected)
    n = int(np.asarray(store.array("valid")[:]).sum())
    assert (
        "**SYNTHETIC**" in text and f"**{n:,} locations × 4 seasons × 13 bands × 36×36 px**" in text
    )
    assert (
        "| B8A | narrow near infrared | 20 | 864.7 | uint16 reflectance × 10⁴, 18 px at 20 m in "
        "`pixels_20m` |" in text
    )
    assert (
        "one array per resolution group (`pixels_10m` 36 px, `pixels_20m` 18 px, `pixels_60m` 6 px)"
        in text
    )
    assert (
        "| B4 | red | 10 | 664.6 | uint16 reflectance × 10⁴, 36 px at 10 m in `pixels_10m` |"
        in text
    )
    months = re.search(r"\| Jan \| Feb .*\n\|[-|]+\n\| ([\d | ]+) \|", text)
    assert months and sum(int(v) for v in months.group(1).split("|")) == n * 4
    report = __import__("json").loads((collected / "report.json").read_text())["summary"]
    assert f"candidates tried: {report['tried']:,}" in text
    assert "Recipe **demo**" in text and "GeoNames (CC BY 4.0)" in text
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert text.index("## Use it") < text.index("## What it is")  # the fast path first
    scope: dict = {}
    exec(code, scope)  # the card's own example runs
    assert scope["rgb"].sizes["band_10m"] == 3
    seasons = scope["by_calendar_season"].compute()
    assert set(seasons["season"].values) <= {"DJF", "MAM", "JJA", "SON"}
    assert scope["one"].rio.crs.to_epsg() == int(store.array("epsg")[int(scope["ds"].sample[0])])


def test_card_front_matter_citation_and_limitations(collected):
    import yaml

    write_card(str(collected))
    text = (collected / "card.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["license"] == "other" and meta["size_categories"] == ["n<1K"]
    assert "synthetic" in meta["tags"] and meta["task_categories"] == ["image-feature-extraction"]
    assert meta["pretty_name"]
    bibtex = text.split("```bibtex\n", 1)[1].split("```", 1)[0]
    assert "@inproceedings{manas2021seco," in bibtex and "Seasonal Contrast" in bibtex
    assert bibtex.count("@") == 2 and bibtex.count("{") == bibtex.count("}")
    limits = text.split("## Limitations", 1)[1].split("\n## ", 1)[0]
    assert "City-centred" in limits and "Russia" in limits and "SYNTHETIC" in limits
    assert "offsets, not calendar seasons" in limits


def test_geotiff_export_round_trip(collected, tmp_path):
    paths = export_geotiffs(collected, [0, 3], tmp_path)
    assert len(paths) == 24 and paths[0].name == "sample-000000_season-0_10m.tif"
    store = open_store(collected)
    expect = StoreReader(store).native([3])[0]
    tr = np.asarray(store.array("transform")[3])
    for group, names in store.spec.groups.items():
        with rasterio.open(tmp_path / f"sample-000003_season-2_{group}.tif") as f:
            assert f.crs.to_epsg() == int(store.array("epsg")[3])
            assert f.bounds == (tr[2], tr[5] - 360, tr[2] + 360, tr[5])  # 36 px × 10 m
            assert f.descriptions == names and f.nodata == 0
            assert np.array_equal(f.read(), expect.arrays[group][2])
            assert f.tags()["source"].startswith("SYNTHETIC")
    with pytest.raises(ValueError, match="do not hold data"):
        export_geotiffs(collected, [99], tmp_path)
    bad = run_module(
        "shared", "export-geotiff", str(collected), "--samples", "x", "--out", str(tmp_path)
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1  # a usage error


def test_rio_to_raster_writes_what_export_geotiff_writes(collected, tmp_path):

    from shared import open_sample
    from shared.access.geotiff import season_raster

    exported = export_geotiffs(collected, [3], tmp_path)
    one = open_sample(str(collected), 3)
    for group, names in open_store(collected).spec.groups.items():  # one file per group
        (theirs,) = [p for p in exported if p.stem.endswith(f"-2_{group}")]
        mine = tmp_path / f"rio_{group}.tif"
        season_raster(one, 2, group).rio.to_raster(mine)
        with rasterio.open(theirs) as a, rasterio.open(mine) as b:
            assert b.crs == a.crs and b.transform == a.transform and b.nodata == a.nodata == 0
            assert b.descriptions == a.descriptions == names
            for key, value in a.tags().items():
                assert b.tags()[key] == value, key
            assert {"time", "product_id", "source", "sample", "season"} <= set(a.tags())
            assert b.dtypes == a.dtypes and np.array_equal(b.read(), a.read())


def test_torch_dataset(collected):
    ds = SeasonalPatches(collected, bands="B8,B4", seasons=[1, 3])
    item = ds[2]
    reader = StoreReader(str(collected))
    s = item["sample"]
    assert item["image"].shape == (2, 2, 36, 36) and item["image"].dtype == np.float32
    expect = reader.pixels([s], seasons=[1, 3], bands=["B8", "B4"])[0].astype(np.float32) * 1e-4
    assert np.allclose(item["image"], expect)
    assert item["bands"] == ["B8", "B4"] and item["time"].shape == (2,) and -20 < item["lon"] < 50
    raw = SeasonalPatches(collected, reflectance=False)[0]["image"]
    assert raw.dtype == np.uint16
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batch = next(iter(loader))  # the default collate makes tensors of the items' arrays
    assert batch["image"].shape == (4, 2, 2, 36, 36) and batch["image"].dtype == torch.float32
    assert batch["cloud"].dtype == torch.uint8 and batch["time"].dtype == torch.int64
    assert torch.equal(batch["image"][2], torch.from_numpy(item["image"]))
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=SeasonalPatches.collate)
    batch = next(iter(loader))
    assert batch["bands"] == ["B8", "B4"] and batch["image"].shape == (3, 2, 2, 36, 36)
    assert batch["sample"].shape == (3,)
    with pytest.raises(ValueError, match="season"):
        SeasonalPatches(collected, seasons=[7])
    native = SeasonalPatches(collected, bands="B12,B4,B1", native=True, reflectance=False)[2]
    assert native["image_10m"].shape == (4, 1, 36, 36) and native["image_60m"].shape == (4, 1, 6, 6)
    assert np.array_equal(native["image_20m"], reader.native([s], bands=["B12"]).arrays["20m"][0])
    smooth = SeasonalPatches(collected, bands="B12", resample="bilinear", reflectance=False)[2]
    assert smooth["image"].shape == (4, 1, 36, 36)


def test_finalize_writes_a_stac_collection(collected):
    import pystac

    collection = pystac.Collection.from_file(str(collected / "stac" / "collection.json"))
    n = int(np.asarray(open_store(collected).array("valid")[:]).sum())
    assert collection.extra_fields["seco:samples"] == n and "SYNTHETIC" in collection.description
    assert collection.assets["index"].get_absolute_href() == str(collected / "index.parquet")
    assert run_module("shared", "verify", str(collected)).returncode == 0  # stray folder is fine
