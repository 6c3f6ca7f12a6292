"""Older layouts: version 1 and 2 stores stay readable, and ``python -m shared upgrade`` brings
them to 2 (x/y, CF) and to 3 (native-resolution pixels, by exact decimation) where it can."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from shared import open_dataset, open_sample
from shared.checks.upgrade import UPGRADE_STEPS, UpgradeStep, upgrade
from shared.checks.verify import verify
from shared.layout.georef import pixel_centres
from shared.store.handle import open_store
from shared.store.reader import StoreReader
from shared.testing import make_store
from tests.conftest import run_module

V1_ROOT_DROPS = ("Conventions", "crs_units")
CF_KEYS = {"long_name", "standard_name", "units", "_FillValue", "valid_range", "axis"}
CF_KEYS |= {"flag_values", "flag_meanings", "comment"}


def make_v1_store(path: Path, size: int = 16) -> Path:
    """A finalized-looking version-1 store: no x/y, no CF attributes, no manifests,
    consolidated. At size 16 (not divisible by 6) its 13 bands cannot go native: the
    upgrade stops at version 2."""
    make_store(path, n_samples=10, size=size, shard_samples=4, shards=[0, 2], layout_version=2)
    for name in ("x", "y", "manifests"):
        shutil.rmtree(path / name)
    for meta_path in path.glob("*/zarr.json"):
        meta = json.loads(meta_path.read_text())
        meta["attributes"] = {k: v for k, v in meta["attributes"].items() if k not in CF_KEYS}
        meta_path.write_text(json.dumps(meta))
    root = json.loads((path / "zarr.json").read_text())
    root["attributes"] = {k: v for k, v in root["attributes"].items() if k not in V1_ROOT_DROPS} | {
        "layout_version": 1
    }
    (path / "zarr.json").write_text(json.dumps(root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(path))
    return path


def whole(path: Path) -> bool:
    """verify finds nothing wrong but the shard the fixture leaves unwritten on purpose."""
    return verify(path).problems == ["1 of 3 shards not done: 1"]


def pixel_bytes(path: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted((path / "pixels" / "c").rglob("*")):  # the data, not the metadata
        if f.is_file():
            digest.update(f.read_bytes())
    return digest.hexdigest()


def test_version_1_store_is_readable(tmp_path):
    path = make_v1_store(tmp_path / "v1.zarr")
    store = open_store(path)
    assert store.layout_version == 1 and "x" not in set(store.group.array_keys())
    assert whole(path)
    ds = open_dataset(path)
    assert ds.sizes["sample"] == 6 and "x" not in ds.variables
    np.testing.assert_array_equal(
        ds.pixels.isel(sample=5).values, StoreReader(str(path)).pixels([9])[0]
    )
    sample = open_sample(path, 9)
    np.testing.assert_array_equal(
        sample.x.values, pixel_centres(store.array("transform")[9], 16)[0][0]
    )


def test_upgrade_adds_coordinates_and_attributes_and_is_idempotent(tmp_path):
    path = make_v1_store(tmp_path / "v1.zarr")
    pixels_before = pixel_bytes(path)
    done = upgrade(path, log=lambda _: None)
    assert done == [
        "x/y pixel-centre coordinates",
        "CF attributes",
        "layout version 1 -> 2",
        "manifests of 2 shard(s)",
    ]
    assert sorted(p.name for p in (path / "manifests").glob("shard-*.json")) == [
        "shard-000000.json",
        "shard-000002.json",
    ]
    manifest = json.loads((path / "manifests" / "shard-000000.json").read_text())
    assert any(key.startswith("x/") for key in json.dumps(manifest).split('"'))  # v2 objects
    assert not any("manifest" in note for note in verify(path).notes)
    store = open_store(path)
    assert store.layout_version == 2 and store.attrs["Conventions"].startswith("CF-")
    assert whole(path) and pixel_bytes(path) == pixels_before
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # xarray warns without consolidation
        ds = xr.open_zarr(path)  # through the refreshed consolidated metadata
    x, y = pixel_centres(ds.transform.values, 16)
    np.testing.assert_array_equal(ds.x.values, x)  # NaN in the slots of the unwritten shard
    np.testing.assert_array_equal(ds.y.values, y)
    assert ds.cloud.attrs["flag_meanings"] == "clear cloud no_data"
    assert ds.x.attrs["units"] == "m"
    root = (path / "zarr.json").read_bytes()
    assert upgrade(path, log=lambda _: None) == []
    assert (path / "zarr.json").read_bytes() == root


def test_interrupted_upgrade_leaves_a_version_1_store_and_finishes_on_rerun(tmp_path, monkeypatch):
    path = make_v1_store(tmp_path / "v1.zarr")

    def crash(store):
        raise KeyboardInterrupt

    monkeypatch.setattr(
        "shared.checks.upgrade.UPGRADE_STEPS", [UPGRADE_STEPS[0], UpgradeStep("crash", crash)]
    )
    with pytest.raises(KeyboardInterrupt):
        upgrade(path, log=lambda _: None)
    assert open_store(path).layout_version == 1 and whole(path)
    assert xr.open_zarr(path).sizes["sample"] == 10  # consolidated view still whole
    monkeypatch.undo()
    assert "layout version 1 -> 2" in upgrade(path, log=lambda _: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert "x" in xr.open_zarr(path).coords and whole(path)


def test_upgrade_cli(tmp_path):
    path = make_v1_store(tmp_path / "v1.zarr")
    proc = run_module("shared", "upgrade", str(path))
    assert proc.returncode == 0 and "layout version 1 -> 2" in proc.stdout
    proc = run_module("shared", "upgrade", str(path))
    assert proc.returncode == 0 and "already" in proc.stdout
    proc = run_module("shared", "upgrade", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_upgrade_v2_to_v3_is_exact_on_block_data_and_idempotent(tmp_path):
    path = tmp_path / "v2.zarr"
    make_store(path, n_samples=10, size=24, shards=[0, 2], layout_version=2)
    reference = make_store(tmp_path / "v3.zarr", n_samples=10, size=24, shards=[0, 2])
    before = StoreReader(str(path)).pixels(np.arange(10), bands=["B2", "B3", "B4", "B8"])
    notes: list[str] = []
    done = upgrade(path, log=notes.append)
    assert done[0] == "native-resolution pixel arrays (exact decimation)", done
    assert "layout version 2 -> 3" in done and "manifests of 2 shard(s)" in done
    store = open_store(path)
    keys = set(store.group.array_keys())
    assert store.layout_version == 3 and "pixels" not in keys
    assert {"pixels_10m", "pixels_20m", "pixels_60m", "x_20m", "y_60m", "band_20m"} <= keys
    got, want = (
        StoreReader(store).native(np.arange(10)),
        StoreReader(reference).native(np.arange(10)),
    )
    for group in ("10m", "20m", "60m"):
        np.testing.assert_array_equal(got.arrays[group], want.arrays[group])
    for name in ("x_20m", "y_60m"):
        np.testing.assert_array_equal(store.array(name)[:], reference.array(name)[:])
    np.testing.assert_array_equal(
        StoreReader(store).pixels(np.arange(10), bands=["B2", "B3", "B4", "B8"]), before
    )
    assert whole(path)
    manifest = json.loads((path / "manifests" / "shard-000002.json").read_text())
    assert "pixels_60m/c/2/0/0/0/0" in manifest["objects"]
    assert not any(k.startswith("pixels/") for k in manifest["objects"])
    assert upgrade(path, log=lambda _: None) == []


def test_upgrade_says_why_resampled_pixels_stay_version_2(tmp_path):
    path = tmp_path / "smooth.zarr"
    store = make_store(path, n_samples=4, size=24, shards=[], layout_version=2)
    from shared.store.writer import write_shard
    from shared.testing import fill_shard

    data = fill_shard(store.spec, 0, version=2)
    data.pixels[1, 2, 4, 0, 1] += 5  # one B5 pixel off its 2×2 block: not nearest data
    write_shard(store, 0, data)
    notes: list[str] = []
    upgrade(path, log=notes.append)
    assert open_store(path).layout_version == 2 and "pixels" in set(
        open_store(path).group.array_keys()
    )
    assert any("shard 0's 20m bands are not 2×2 blocks" in n for n in notes), notes
    assert not any(k.startswith("pixels_") for k in open_store(path).group.array_keys())
    assert verify(path).ok


def test_version_1_store_goes_to_3_in_one_run(tmp_path):
    path = make_v1_store(tmp_path / "v1.zarr", size=24)
    assert "layout version 1 -> 3" in upgrade(path, log=lambda _: None)
    assert whole(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # consolidated metadata refreshed
        ds = xr.open_zarr(path)
    assert ds.pixels_60m.shape == (10, 4, 3, 4, 4) and "pixels" not in ds


def test_interrupted_v2_to_v3_upgrade_finishes_on_rerun(tmp_path, monkeypatch):
    path = tmp_path / "v2.zarr"
    make_store(path, n_samples=10, size=24, shards=[0, 2], layout_version=2)
    import shared.checks.upgrade as up

    real = up._drop_grid_pixels

    def crash(store):
        raise KeyboardInterrupt  # after the version is raised, before pixels are dropped

    monkeypatch.setattr(up, "_drop_grid_pixels", crash)
    with pytest.raises(KeyboardInterrupt):
        upgrade(path, log=lambda _: None)
    monkeypatch.setattr(up, "_drop_grid_pixels", real)
    assert open_store(path).layout_version == 3
    upgrade(path, log=lambda _: None)
    assert "pixels" not in set(open_store(path).group.array_keys()) and whole(path)
