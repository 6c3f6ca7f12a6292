"""Store locations (absolute paths, storage options, unreachable stores) and concurrent range
reads that equal sequential ones byte for byte."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest
import s3fs

from shared.errors import StoreUnreachableError
from shared.secrets import redact_text
from shared.store.handle import open_store
from shared.store.location import (
    StoreBytes,
    absolute_location,
    check_reachable,
    read_many,
    zarr_store,
)
from shared.store.reader import StoreReader
from shared.testing import make_store
from shared.validate import ConfigValueError, check_storage_options
from tests.conftest import free_port


def test_absolute_location(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_location("rel.zarr") == str(tmp_path / "rel.zarr")
    assert absolute_location(f"file://{tmp_path}/a.zarr") == str(tmp_path / "a.zarr")
    assert absolute_location("s3://bucket/x.zarr") == "s3://bucket/x.zarr"
    assert absolute_location(tmp_path / "b") == str(tmp_path / "b")


def test_storage_options_are_checked_and_remembered_as_secrets():
    opts = check_storage_options("--storage-options", '{"secret": "hush-hush-123", "anon": false}')
    assert opts == {"secret": "hush-hush-123", "anon": False}
    assert "hush-hush-123" not in redact_text("error near hush-hush-123")
    for bad in ("{", "[]", '"text"', {1: 2}):
        with pytest.raises(ConfigValueError, match="--storage-options"):
            check_storage_options("--storage-options", bad)


def test_unreachable_endpoint_is_one_line(capsys):
    opts = {
        "key": "k",
        "secret": "s",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{free_port()}"},
    }
    with pytest.raises(StoreUnreachableError) as e:
        check_reachable("s3://bucket/x.zarr", opts)
    text = str(e.value)
    assert "\n" not in text and "s3://bucket/x.zarr" in text and "Could not connect" in text
    with pytest.raises(StoreUnreachableError):
        open_store("s3://bucket/x.zarr", storage_options=opts)
    src = StoreBytes(zarr_store("s3://bucket/x.zarr", read_only=True, storage_options=opts))
    with pytest.raises(StoreUnreachableError, match="cannot reach") as e:  # reads, later
        src.read_many([("pixels/c/0/0/0/0/0", 0, 8), ("pixels/c/1/0/0/0/0", 0, 8)])
    assert "\n" not in str(e.value)


class SlowStore:
    """A Zarr store wrapper whose ``get`` waits ``delay`` seconds and records the most
    requests it ever had in flight."""

    def __init__(self, inner, delay: float = 0.01) -> None:
        self.inner, self.delay = inner, delay
        self.in_flight = self.most = self.calls = 0

    async def get(self, key, prototype, byte_range=None):
        self.in_flight += 1
        self.calls += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return await self.inner.get(key, prototype, byte_range=byte_range)
        finally:
            self.in_flight -= 1


def _reader(store, src) -> StoreReader:
    r = StoreReader(store)
    for arr in r._arrays.values():
        if arr is not None:
            arr.src = src
    return r


@pytest.mark.parametrize("in_flight", [1, 4, 64])
def test_concurrent_reads_equal_sequential_reads_locally(tiny_store, in_flight):
    samples, seasons = [9, 0, 5, 2, 7], np.array([[3, 1], [0, 2], [2, 2], [1, 0], [3, 3]])
    want = StoreReader(tiny_store).pixels(samples, seasons=seasons, bands=["B4", "B3", "B2"])
    slow = SlowStore(tiny_store.group.store, delay=0.002)
    reader = _reader(tiny_store, StoreBytes(slow, max_in_flight=in_flight))
    got = reader.pixels(samples, seasons=seasons, bands=["B4", "B3", "B2"])
    assert got.tobytes() == want.tobytes()
    assert 1 <= slow.most <= in_flight
    if in_flight > 1:
        assert slow.most > 1  # requests really overlapped
    np.testing.assert_array_equal(reader.cloud([4, 8]), StoreReader(tiny_store).cloud([4, 8]))


def test_one_request_per_sample_and_season_for_contiguous_bands(tiny_store):
    slow = SlowStore(tiny_store.group.store, delay=0)
    reader = _reader(tiny_store, StoreBytes(slow))
    reader.pixels([0, 1, 2], seasons=[0, 2], bands=["B4", "B3", "B2"])  # shard 0, cold index
    # the shard index, then at most one range per (sample, season), never one per band
    assert 2 <= slow.calls <= 1 + 3 * 2
    groups = len(reader.spec.groups)  # layout 3: one image array per resolution group
    assert groups == 3
    slow.calls = 0
    reader.pixels([1], bands=None)  # all bands and seasons of one sample: one range per group,
    assert slow.calls == groups + (groups - 1)  # plus the cold shard index of 20 m and 60 m
    slow.calls = 0
    reader.pixels([2], bands=None)  # indexes now cached: exactly one range per group
    assert slow.calls == groups


def test_read_many_keeps_order_and_absent_objects(tiny_store):
    src = StoreBytes(tiny_store.group.store, max_in_flight=3)
    ranges = [("zarr.json", 0, 10), ("nothing/here", 0, 4), ("zarr.json", None, 5)]
    raw = (tiny_store.group.store.root / "zarr.json").read_bytes()
    assert read_many(src, ranges) == [raw[:10], None, raw[-5:]]


def test_concurrent_reads_from_s3_equal_local_reads(s3_server, tmp_path):
    fs = s3fs.S3FileSystem(**s3_server)
    fs.mkdir("reads-test")
    local = make_store(tmp_path / "l.zarr", n_samples=12, size=24, shard_samples=4)
    fs.put(str(tmp_path / "l.zarr"), "reads-test/l.zarr", recursive=True)
    url = "s3://reads-test/l.zarr"
    samples = np.array([11, 0, 4, 7, 3, 8])
    want = StoreReader(local).pixels(samples, seasons=[0, 3], bands=["B4", "B3", "B2"])
    for in_flight in (1, 16):
        with StoreReader(url, storage_options=s3_server, max_in_flight=in_flight) as r:
            got = r.pixels(samples, seasons=[0, 3], bands=["B4", "B3", "B2"])
            assert got.tobytes() == want.tobytes()
            assert r.pixels([5]).tobytes() == StoreReader(local).pixels([5]).tobytes()
    assert os.path.isdir(tmp_path / "l.zarr")


def test_s3_stores_get_a_pool_as_large_as_the_reads_in_flight(s3_server):
    store = zarr_store("s3://reads-test/x.zarr", storage_options=s3_server)
    config = store.fs.config_kwargs
    assert config["max_pool_connections"] >= 64
    assert s3_server.get("config_kwargs") is None  # the caller's options are not changed
