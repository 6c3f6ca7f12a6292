"""Layout version 1 stores: still readable, and ``python -m shared upgrade`` brings them to 2."""

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


def make_v1_store(path: Path) -> Path:
    """A finalized-looking version-1 store: no x/y, no CF attributes, no manifests,
    consolidated."""
    make_store(path, n_samples=10, size=16, shard_samples=4, shards=[0, 2])
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
