"""Every object of a finished shard accounted for: manifests, and damage seen by every reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import google_crc32c
import numpy as np
import pytest

from shared.access.view import open_dataset
from shared.checks.upgrade import record_manifests
from shared.checks.verify import verify
from shared.store.handle import open_store
from shared.store.manifests import (
    DamagedShardError,
    manifest_key,
    read_manifest,
)
from shared.store.reader import ChunkReadError, StoreReader
from shared.store.summary import live_samples
from shared.testing import make_store
from tests.conftest import run_module


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """10 samples in 3 shards of 4 (the last short), every shard finished."""
    return Path(make_store(tmp_path_factory.mktemp("p") / "s.zarr", n_samples=10).location)


@pytest.fixture
def store_path(pristine, tmp_path):
    out = tmp_path / "s.zarr"
    shutil.copytree(pristine, out)
    return out


def test_manifest_lists_every_object_with_size_and_crc(store_path):
    store = open_store(store_path)
    manifest = read_manifest(store, 1)
    assert manifest is not None and manifest["shard"] == 1
    keys = set(manifest["objects"])
    assert {"pixels_20m/c/1/0/0/0/0", "cloud/c/1/0/0/0", "valid/c/1", "time/c/1/0"} <= keys
    assert not any(k.startswith("shard_done") for k in keys)  # the marker comes after it
    for key, want in manifest["objects"].items():
        raw = (store_path / key).read_bytes()
        assert want == {"bytes": len(raw), "crc32c": google_crc32c.value(raw)}, key
    assert verify(store_path).ok


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


DAMAGE = {
    "flipped pixels": ("pixels_20m/c/1/0/0/0/0", _flip, "crc32c"),
    "truncated cloud": ("cloud/c/1/0/0/0", _truncate, "wrong size"),
    "deleted pixels": ("pixels_20m/c/1/0/0/0/0", Path.unlink, "is missing"),
    "deleted valid": ("valid/c/1", Path.unlink, "is missing"),
    "deleted time": ("time/c/1/0", Path.unlink, "is missing"),
    "deleted manifest": (manifest_key(1), Path.unlink, "manifest is missing"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_verify_names_the_damaged_shard_and_array(store_path, kind):
    key, damage, words = DAMAGE[kind]
    damage(store_path / key)
    report = verify(store_path)
    assert not report.ok
    # sizes and presence need no decoding; a flipped byte needs the crc32c of the object
    assert verify(store_path, decode=False).ok == (kind == "flipped pixels")
    first = report.problems[0]
    assert first.startswith("shard 1: ") and words in first, report.problems
    if not key.startswith("manifests"):
        assert f"array {key.split('/')[0]!r}" in first
    assert any("--repair" in p for p in report.problems)


@pytest.mark.parametrize("key", ["pixels_20m/c/1/0/0/0/0", "cloud/c/1/0/0/0"])
def test_reader_refuses_a_deleted_image_object(store_path, key):
    (store_path / key).unlink()
    reader = StoreReader(store_path)
    reader.pixels([0, 9])  # other shards read as before
    with pytest.raises(DamagedShardError, match=f"shard 1: array '{key.split('/')[0]}'"):
        if key.startswith("pixels"):
            reader.pixels([5])
        else:
            reader.cloud([5])


def test_reader_still_reads_an_empty_finished_shard_as_fill(tmp_path):
    """An all-empty shard has no image objects by design: that is not damage."""
    from shared.store.writer import empty_shard, write_shard

    store = make_store(tmp_path / "e.zarr", n_samples=8, shards=[0])
    write_shard(store, 1, empty_shard(store.spec, 1))
    assert "pixels_20m/c/1/0/0/0/0" not in read_manifest(store, 1)["objects"]
    assert (StoreReader(store.location).pixels([5]) == 0).all()
    assert list(live_samples(open_store(store.location))) == [0, 1, 2, 3]
    assert verify(store.location).ok


@pytest.mark.parametrize("kind", ["flipped pixels", "truncated cloud"])
def test_reader_refuses_altered_image_objects(store_path, kind):
    key, damage, _ = DAMAGE[kind]
    damage(store_path / key)
    reader = StoreReader(store_path)
    with pytest.raises(ChunkReadError):
        if key.startswith("pixels"):
            reader.pixels(np.arange(4, 8))
        else:
            reader.cloud(np.arange(4, 8))


@pytest.mark.parametrize("kind", ["deleted pixels", "deleted valid", "deleted time"])
def test_open_dataset_and_live_samples_refuse_a_missing_object(store_path, kind):
    key, damage, _ = DAMAGE[kind]
    damage(store_path / key)
    with pytest.raises(DamagedShardError, match="shard 1: array"):
        open_dataset(store_path)
    with pytest.raises(DamagedShardError, match="shard 1: array"):
        live_samples(open_store(store_path))


def test_verify_cli_exits_1_with_one_line_per_damage(store_path):
    (store_path / "valid/c/1").unlink()
    proc = run_module("shared", "verify", str(store_path))
    assert proc.returncode == 1
    assert "problem: shard 1: array 'valid' (valid/c/1): object is missing" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_store_written_before_manifests_is_noted_then_upgraded(store_path):
    shutil.rmtree(store_path / "manifests")
    report = verify(store_path)
    assert report.ok and any("before per-shard manifests" in n for n in report.notes)
    (store_path / "valid/c/1").unlink()  # cannot be told from an empty shard without them
    assert verify(store_path, decode=False).ok
    store = open_store(store_path, "r+")
    recorded, damage = record_manifests(store)
    assert (recorded, damage) == (3, [])
    assert verify(store_path).ok  # valid/c/1 was absent when recorded: now part of the record
    assert not any("before per-shard manifests" in n for n in verify(store_path).notes)


def test_record_manifests_refuses_a_corrupted_shard(store_path):
    shutil.rmtree(store_path / "manifests")
    _flip(store_path / "pixels_20m/c/2/0/0/0/0")
    recorded, damage = record_manifests(open_store(store_path, "r+"))
    assert recorded == 2 and [d.shard for d in damage] == [2] and damage[0].array == "pixels_20m"
    assert read_manifest(open_store(store_path), 2) is None
    assert "shard 2: manifest is missing" in verify(store_path).problems[0]


def test_manifests_are_a_group_that_zarr_and_xarray_skip(store_path):
    import warnings

    import xarray as xr

    meta = json.loads((store_path / "manifests/zarr.json").read_text())
    assert meta["node_type"] == "group"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(store_path, consolidated=False)
    assert "pixels_20m" in ds and not any("manifest" in str(v) for v in ds.variables)
