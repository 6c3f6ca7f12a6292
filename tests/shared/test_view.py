import numpy as np
import xarray as xr

from shared.access.view import open_dataset
from shared.layout.georef import pixel_centres
from shared.store.reader import StoreReader
from shared.store.writer import empty_shard, write_shard
from shared.testing import make_store


def test_open_zarr_gives_named_dims_coords_and_cf_masking(tiny_store):
    ds = xr.open_zarr(tiny_store.location, consolidated=False)
    assert ds["pixels"].dims == ("sample", "season", "band", "y", "x")
    assert list(ds["band"].values) == list(tiny_store.spec.bands)
    assert {"lon", "lat", "time", "x", "y"} <= set(ds.coords)
    assert ds["x"].dims == ("sample", "x") and ds["x"].attrs["units"] == "m"
    assert np.issubdtype(ds["time"].dtype, np.datetime64)
    assert ds["time"].values[0, 0] == np.datetime64("2021-01-15T10:30:00")
    assert ds.attrs["Conventions"].startswith("CF-")
    red = ds["pixels"].sel(band="B4").isel(sample=3, season=2).values
    np.testing.assert_array_equal(red, tiny_store.array("pixels")[3, 2, 3])
    assert ds["pixels"].dtype == np.float32  # CF _FillValue 0: xarray masks no data as NaN
    raw = xr.open_zarr(tiny_store.location, consolidated=False, mask_and_scale=False)
    assert raw["pixels"].dtype == np.uint16 and raw["pixels"].attrs["_FillValue"] == 0


def test_x_y_are_pixel_centres_of_the_transform(tiny_store):
    ds = xr.open_zarr(tiny_store.location, consolidated=False)
    transform = ds["transform"].values
    x, y = pixel_centres(transform, tiny_store.spec.size)
    np.testing.assert_array_equal(ds["x"].values, x)
    np.testing.assert_array_equal(ds["y"].values, y)
    assert ds["x"].values[0, 1] - ds["x"].values[0, 0] == 10.0
    assert ds["x"].values[0, 0] == transform[0, 2] + 5  # centre of the first pixel


def test_open_dataset_keeps_finished_valid_samples(tmp_path):
    store = make_store(tmp_path / "p.zarr", n_samples=10, shards=[0, 2])
    ds = open_dataset(store.location)
    assert ds.sizes["sample"] == 6  # shard 1 (samples 4-7) is not done
    np.testing.assert_array_equal(ds["candidate_id"].values, [0, 1, 2, 3, 8, 9])
    assert ds["pixels"].chunks[0] == (4, 2)  # one dask chunk per shard
    assert ds["pixels"].dtype == np.uint16 and ds.attrs["synthetic"] is True
    np.testing.assert_array_equal(
        ds["pixels"].isel(sample=4, season=[0, 3]).sel(band=["B4", "B2"]).values,
        store.array("pixels")[8][[0, 3]][:, [3, 1]],
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
    assert ds.sizes["sample"] == 5 and ds["pixels"].chunks[0] == (4, 1)
    assert bool(ds["valid"].all())
    everything = open_dataset(store.location, keep_empty=True)
    assert everything.sizes["sample"] == 8 and not bool(everything["valid"].all())
    # a B4 mean is one read per shard, whatever the number of images, and decodes B4 only
    calls = []
    read = StoreReader.pixels

    def spy(self, samples, seasons=None, bands=None, out=None):
        calls.append((len(samples), list(bands)))
        return read(self, samples, seasons, bands, out)

    monkeypatch.setattr(StoreReader, "pixels", spy)
    mean = ds["pixels"].sel(band="B4").mean()
    reads = [k for k in dict(mean.data.__dask_graph__()) if str(k[0]).startswith("xarray-")]
    assert len(reads) == 2
    assert np.isclose(float(mean), store.array("pixels")[[0, 1, 2, 3, 6], :, 3].mean())
    assert sorted(calls) == [(1, [3]), (4, [3])]


def test_open_dataset_without_dask_reads_lazily_through_the_reader(tmp_path):
    store = make_store(tmp_path / "n.zarr", n_samples=8, shards=[1])
    ds = open_dataset(store.location, chunks=None)
    assert ds["pixels"].chunks is None and ds.sizes["sample"] == 4
    np.testing.assert_array_equal(
        ds["pixels"].isel(sample=[2, 0], season=1).sel(band="B8").values,
        store.array("pixels")[[6, 4], 1, 7],
    )
    assert ds["cloud"].isel(sample=3).shape == (4, 16, 16)
