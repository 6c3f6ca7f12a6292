"""The STAC Collection of a store, read back with pystac's object model (no network)."""

from __future__ import annotations

import json

import numpy as np
import pystac
from pystac.extensions.eo import EOExtension
from pystac.extensions.raster import RasterExtension

from shared.publish.stac import COLLECTION_KEY, write_stac_collection
from shared.store.location import put_bytes
from shared.testing import make_store
from tests.conftest import run_module


def test_collection_round_trips_through_pystac(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_samples=8, size=16, bands=("B2", "B3", "B4", "B8"))
    put_bytes(store.group.store, "index.parquet", b"PAR1")
    assert write_stac_collection(store) == COLLECTION_KEY
    path = tmp_path / "s.zarr" / "stac" / "collection.json"
    collection = pystac.Collection.from_file(str(path))
    assert collection.id == "s" and collection.license == "other"
    assert "SYNTHETIC" in collection.description and "synthetic" in collection.keywords

    (west, south, east, north) = collection.extent.spatial.bboxes[0]
    lon, lat = store.array("lon")[:], store.array("lat")[:]
    assert west < lon.min() and east > lon.max() and south < lat.min() and north > lat.max()
    half_width_deg = 16 * 10 / 2 / (111_320 * np.cos(np.radians(lat.max())))
    assert east - lon.max() < 2 * half_width_deg  # footprints, not the whole world

    start, end = collection.extent.temporal.intervals[0]
    times = store.array("time")[:].astype("datetime64[ms]")
    assert np.datetime64(start.replace(tzinfo=None)) == times.min()
    assert np.datetime64(end.replace(tzinfo=None)) == times.max()

    eo = EOExtension.summaries(collection)
    assert [b.name for b in eo.bands] == ["B2", "B3", "B4", "B8"]
    assert [b.common_name for b in eo.bands] == ["blue", "green", "red", "nir"]
    assert eo.bands[2].center_wavelength == 0.6646
    raster = RasterExtension.summaries(collection)
    assert raster.bands[0].nodata == 0 and raster.bands[0].scale == 1e-4

    assert collection.assets["zarr"].media_type == "application/vnd+zarr"
    assert collection.assets["zarr"].get_absolute_href().rstrip("/") == str(tmp_path / "s.zarr")
    assert collection.assets["index"].get_absolute_href() == str(
        tmp_path / "s.zarr" / "index.parquet"
    )
    again = pystac.Collection.from_dict(collection.to_dict(include_self_link=False))
    assert again.to_dict(include_self_link=False) == collection.to_dict(include_self_link=False)
    assert json.loads(path.read_text())["seco:samples"] == 8


def test_stac_command(tmp_path):
    make_store(tmp_path / "c.zarr", n_samples=4, size=8, bands=("B4",))
    proc = run_module("shared", "stac", str(tmp_path / "c.zarr"))
    assert proc.returncode == 0 and proc.stdout.strip().endswith("stac/collection.json")
    assert pystac.Collection.from_file(str(tmp_path / "c.zarr" / COLLECTION_KEY)).id == "c"
    proc = run_module("shared", "stac", str(tmp_path / "none.zarr"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
