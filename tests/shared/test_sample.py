"""open_sample: each sample's CRS and grid as rioxarray and GDAL read them."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.transform import Affine

from shared import open_sample
from shared.access.geotiff import export_geotiffs
from shared.access.torch_dataset import SeasonalPatches
from shared.errors import ShardShapeError
from shared.layout.spec import StoreSpec
from shared.store.handle import create_store
from shared.store.writer import write_shard
from shared.testing import fill_shard, make_store


def test_rioxarray_reads_the_sample_grid_and_round_trips_export_geotiff(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_samples=8, size=16, bands=("B2", "B3", "B4", "B8"))
    ds = open_sample(store.location, 5)
    epsg = int(store.array("epsg")[5])
    assert ds.rio.crs.to_epsg() == epsg and ds.pixels_10m.rio.crs.to_epsg() == epsg
    assert ds.rio.transform() == Affine(*store.array("transform")[5])
    px = ds.pixels_10m
    assert px.attrs["grid_mapping"] == "spatial_ref" and "crs_wkt" in ds.spatial_ref.attrs
    assert px.rio.nodata == 0 and ds.cloud.rio.nodata == 255
    np.testing.assert_array_equal(ds.x.values, store.array("x")[5])
    np.testing.assert_array_equal(ds.y.values, store.array("y")[5])
    assert px.dims == ("season", "band_10m", "y", "x") and px.dtype == np.uint16

    ours = tmp_path / "rio.tif"
    px.isel(season=2).rio.to_raster(ours)
    (theirs,) = [p for p in export_geotiffs(store.location, [5], tmp_path) if "season-2_" in p.name]
    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        assert a.crs == b.crs and a.transform == b.transform and a.nodata == b.nodata == 0
        assert a.shape == b.shape and a.count == b.count == 4
        np.testing.assert_array_equal(a.read(), b.read())


def test_open_sample_subsets_and_refuses_empty_slots(tmp_path):
    store = make_store(tmp_path / "p.zarr", n_samples=8, size=24, shards=[0])
    ds = open_sample(store, 1, bands=["B8", "B4", "B1"], seasons=[3, 1])
    np.testing.assert_array_equal(
        ds.pixels_10m.values, store.array("pixels_10m")[1][[3, 1]][:, [3, 2]]
    )
    np.testing.assert_array_equal(
        ds.pixels_60m.values, store.array("pixels_60m")[1][[3, 1]][:, [0]]
    )
    assert list(ds.band_10m.values) == ["B8", "B4"] and list(ds.season.values) == [3, 1]
    assert ds.time.values[0] == np.datetime64("2021-01-16T10:30") + np.timedelta64(3 * 91, "D")
    with pytest.raises(ValueError, match="holds no data"):
        open_sample(store, 6)  # shard 1 is not written
    with pytest.raises(IndexError):
        open_sample(store, 8)
    with pytest.raises(KeyError, match="B99"):
        open_sample(store, 0, bands=["B99"])


def test_torch_dataset_open_sample_uses_its_bands_and_seasons(tmp_path):
    store = make_store(tmp_path / "t.zarr", n_samples=4, size=24)
    patches = SeasonalPatches(store.location, bands="rgb", seasons=[0, 2])
    ds = patches.open_sample(3)
    assert ds.pixels_10m.shape == (2, 3, 24, 24) and ds.attrs["sample"] == 3
    assert ds.rio.crs.to_epsg() == int(store.array("epsg")[3])


def test_each_resolution_group_exports_with_its_own_transform(tmp_path):
    store = make_store(tmp_path / "n.zarr", n_samples=4, size=24)
    ds = open_sample(store, 2, seasons=[1])
    corner = Affine(*store.array("transform")[2])
    paths = export_geotiffs(store.location, [2], tmp_path / "tif")
    by_group = {p.stem.rsplit("_", 1)[1]: p for p in paths if "season-1" in p.name}
    for group, f, count in (("10m", 1, 4), ("20m", 2, 6), ("60m", 6, 3)):
        with rasterio.open(by_group[group]) as src:
            assert src.transform == corner @ Affine.scale(f) and src.count == count
            assert src.shape == (24 // f, 24 // f)
            np.testing.assert_array_equal(src.read(), ds[f"pixels_{group}"].values[0])
            assert src.descriptions == tuple(ds[f"band_{group}"].values)
        sfx = "" if group == "10m" else f"_{group}"
        assert ds[f"pixels_{group}"].rio.transform() == corner @ Affine.scale(f)
        assert ds[f"spatial_ref{sfx}"].attrs["GeoTransform"].split()[1] == repr(10.0 * f)


def test_geographic_store_in_degrees(tmp_path):
    spec = StoreSpec(n_samples=2, size=8, shard_samples=2, bands=("B4",), crs_units="degree")
    store = create_store(tmp_path / "g.zarr", spec, source="synthetic", synthetic=True)
    data = fill_shard(spec, 0)
    step = 1e-4  # ~10 m in degrees
    data.epsg[:] = 4326
    data.transform[:] = [[step, 0, 10.0 + i, 0, -step, 50.0] for i in range(2)]
    write_shard(store, 0, data)
    ds = open_sample(store, 1)
    assert ds.rio.crs.to_epsg() == 4326 and ds.x.attrs["units"] == "degrees_east"
    assert np.isclose(ds.x.values[0], 11.0 + step / 2) and ds.rio.transform().a == step
    raw = xr.open_zarr(store.location, consolidated=False)
    assert (
        raw.y.attrs["standard_name"] == "latitude"
        and raw.transform.attrs["units"] == "degrees_east"
    )
    utm = fill_shard(spec, 0)  # UTM samples in a store declared in degrees: refused
    with pytest.raises(ShardShapeError, match="metre"):
        write_shard(store, 0, utm)
