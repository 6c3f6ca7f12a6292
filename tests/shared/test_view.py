import numpy as np
import xarray as xr

from shared.testing import make_store
from shared.view import open_dataset


def test_open_zarr_gives_named_dims_and_coords(tiny_store):
    ds = xr.open_zarr(tiny_store.location, consolidated=False)
    assert ds["pixels"].dims == ("sample", "season", "band", "y", "x")
    assert ds["pixels"].dtype == np.uint16  # fill value 0 must not turn it into float
    assert list(ds["band"].values) == list(tiny_store.spec.bands)
    assert {"lon", "lat", "time"} <= set(ds.coords)
    assert np.issubdtype(ds["time"].dtype, np.datetime64)
    assert ds["time"].values[0, 0] == np.datetime64("2021-01-15T10:30:00")
    red = ds["pixels"].sel(band="B4").isel(sample=3, season=2).values
    np.testing.assert_array_equal(red, tiny_store.array("pixels")[3, 2, 3])


def test_open_dataset_keeps_finished_valid_samples(tmp_path):
    store = make_store(tmp_path / "p.zarr", n_samples=10, shards=[0, 2])
    ds = open_dataset(store.location)
    assert ds.sizes["sample"] == 6  # shard 1 (samples 4-7) is not done
    np.testing.assert_array_equal(ds["candidate_id"].values, [0, 1, 2, 3, 8, 9])
    assert ds["pixels"].chunks[0][0] <= 4
    assert ds.attrs["synthetic"] is True
