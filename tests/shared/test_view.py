import numpy as np
import xarray as xr

from shared.access.view import open_dataset
from shared.layout.georef import pixel_centres
from shared.store.reader import StoreReader
from shared.store.writer import empty_shard, write_shard
from shared.testing import make_store


def test_open_zarr_gives_named_dims_coords_and_cf_masking(tiny_store):
    ds = xr.open_zarr(tiny_store.location, consolidated=False)
    assert ds["pixels_10m"].dims == ("sample", "season", "band_10m", "y", "x")
    assert ds["pixels_60m"].dims == ("sample", "season", "band_60m", "y_60m", "x_60m")
    assert list(ds["band"].values) == list(tiny_store.spec.bands)
    assert list(ds["band_20m"].values) == ["B5", "B6", "B7", "B8A", "B11", "B12"]
    assert ds["x_20m"].dims == ("sample", "x_20m") and ds["x_20m"].attrs["units"] == "m"
    assert {"lon", "lat", "time", "x", "y"} <= set(ds.coords)
    assert ds["x"].dims == ("sample", "x") and ds["x"].attrs["units"] == "m"
    assert np.issubdtype(ds["time"].dtype, np.datetime64)
    assert ds["time"].values[0, 0] == np.datetime64("2021-01-15T10:30:00")
    assert ds.attrs["Conventions"].startswith("CF-")
    red = ds["pixels_10m"].sel(band_10m="B4").isel(sample=3, season=2).values
    np.testing.assert_array_equal(red, tiny_store.array("pixels_10m")[3, 2, 2])
    assert ds["pixels_10m"].dtype == np.float32  # CF _FillValue 0: xarray masks no data as NaN
    raw = xr.open_zarr(tiny_store.location, consolidated=False, mask_and_scale=False)
    assert raw["pixels_20m"].dtype == np.uint16 and raw["pixels_20m"].attrs["_FillValue"] == 0


def test_x_y_are_pixel_centres_of_the_transform(tiny_store):
    ds = xr.open_zarr(tiny_store.location, consolidated=False)
    transform = ds["transform"].values
    x, y = pixel_centres(transform, tiny_store.spec.size)
    np.testing.assert_array_equal(ds["x"].values, x)
    np.testing.assert_array_equal(ds["y"].values, y)
    assert ds["x"].values[0, 1] - ds["x"].values[0, 0] == 10.0
    assert ds["x"].values[0, 0] == transform[0, 2] + 5  # centre of the first pixel
    assert ds["x_20m"].values[0, 0] == transform[0, 2] + 10  # 20 m pixels, same corner
    assert ds["y_60m"].values[0, 1] - ds["y_60m"].values[0, 0] == -60.0


def test_open_dataset_keeps_finished_valid_samples(tmp_path):
    store = make_store(tmp_path / "p.zarr", n_samples=10, shards=[0, 2])
    ds = open_dataset(store.location)
    assert ds.sizes["sample"] == 6  # shard 1 (samples 4-7) is not done
    np.testing.assert_array_equal(ds["candidate_id"].values, [0, 1, 2, 3, 8, 9])
    assert ds["pixels_10m"].chunks[0] == (4, 2)  # one dask chunk per shard
    assert ds["pixels_10m"].dtype == np.uint16 and ds.attrs["synthetic"] is True
    np.testing.assert_array_equal(
        ds["pixels_10m"].isel(sample=4, season=[0, 3]).sel(band_10m=["B4", "B2"]).values,
        store.array("pixels_10m")[8][[0, 3]][:, [2, 0]],
    )
    np.testing.assert_array_equal(
        ds["pixels_20m"].isel(sample=4, season=1).sel(band_20m=["B12", "B5"]).values,
        store.array("pixels_20m")[8, 1][[5, 0]],
    )
    np.testing.assert_array_equal(ds["cloud"].isel(sample=5).values, store.array("cloud")[9])


def test_open_dataset_drops_empty_slots_unless_asked(tmp_path, monkeypatch):
    store = make_store(tmp_path / "e.zarr", n_samples=8, shards=[0])
    data = empty_shard(store.spec, 1)
    from shared.testing import fill_shard

    full = fill_shard(store.spec, 1)
    data.set_slot(
        2,
        **{
            n: getattr(full, n)[2]
            for n in ("pixels", "cloud", "clear_fraction", "time", "product_id", "lon", "lat")
        },
        epsg=full.epsg[2],
        transform=full.transform[2],
        candidate_id=full.candidate_id[2],
    )
    write_shard(store, 1, data)
    ds = open_dataset(store.location)
    assert ds.sizes["sample"] == 5 and ds["pixels_10m"].chunks[0] == (4, 1)
    assert bool(ds["valid"].all())
    everything = open_dataset(store.location, keep_empty=True)
    assert everything.sizes["sample"] == 8 and not bool(everything["valid"].all())
    # a B4 mean is one read per shard, whatever the number of images, and decodes B4 only
    calls = []
    read = StoreReader.native

    def spy(self, samples, seasons=None, bands=None):
        calls.append((len(samples), list(bands)))
        return read(self, samples, seasons, bands)

    monkeypatch.setattr(StoreReader, "native", spy)
    mean = ds["pixels_10m"].sel(band_10m="B4").mean()
    reads = [k for k in dict(mean.data.__dask_graph__()) if str(k[0]).startswith("xarray-")]
    assert len(reads) == 2
    assert np.isclose(float(mean), store.array("pixels_10m")[[0, 1, 2, 3, 6], :, 2].mean())
    assert sorted(calls) == [(1, ["B4"]), (4, ["B4"])]


def test_open_dataset_without_dask_reads_lazily_through_the_reader(tmp_path):
    store = make_store(tmp_path / "n.zarr", n_samples=8, shards=[1])
    ds = open_dataset(store.location, chunks=None)
    assert ds["pixels_60m"].chunks is None and ds.sizes["sample"] == 4
    np.testing.assert_array_equal(
        ds["pixels_60m"].isel(sample=[2, 0], season=1).sel(band_60m="B9").values,
        store.array("pixels_60m")[[6, 4], 1, 1],
    )
    assert ds["cloud"].isel(sample=3).shape == (4, 24, 24)


def test_open_dataset_is_quiet_about_the_stores_side_files(tmp_path, recwarn):
    # index.parquet, reports/, map.png … are the store's own files: a researcher opening it
    # sees no warning per file
    store = make_store(tmp_path / "q.zarr", n_samples=4, shards=[0])
    store.write_object("index.parquet", b"PAR1")
    store.write_object("reports/shard-000000.json", b"{}")
    open_dataset(store.location)
    assert not [w for w in recwarn if "not recognized as a component" in str(w.message)]
