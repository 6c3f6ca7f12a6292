"""Shard writes, fast reads, subset reads that decode only what they need."""

from pathlib import Path

import numpy as np
import pytest

from shared.errors import ShardShapeError
from shared.layout.bands import band_names
from shared.layout.native import FACTOR
from shared.store.handle import open_store
from shared.store.location import LocalBytes, StoreBytes
from shared.store.reader import ChunkReadError, StoreReader
from shared.store.writer import empty_shard, write_shard
from shared.testing import fill_shard, grid_values, make_store, pixel_value

ALL = band_names("L1C")
SIZE = 24


def expected(samples, seasons, bands, size=SIZE):
    """Values on the 10 m grid (20/60 m bands as 2×2/6×6 blocks), band names or indices."""
    from shared.layout.spec import StoreSpec

    names = [ALL[b] if isinstance(b, (int, np.integer)) else b for b in bands]
    spec = StoreSpec(n_samples=10, size=size)
    return grid_values(spec, np.asarray(samples), np.asarray(seasons), tuple(names))


def test_round_trip_all_arrays(tiny_store):
    store = open_store(tiny_store.location)
    spec = store.spec
    for group, bands in spec.groups.items():
        px = store.array(f"pixels_{group}")[:]
        f = FACTOR[group]
        assert px.dtype == np.uint16 and px.shape == (10, 4, len(bands), SIZE // f, SIZE // f)
        assert list(store.array(f"band_{group}")[:]) == list(bands)
        # each native pixel is the sensor's own: the value of its block's upper-left 10 m pixel
        yx = np.arange(SIZE // f) * f
        idx = [spec.bands.index(b) for b in bands]
        np.testing.assert_array_equal(
            px, pixel_value(*np.ix_(np.arange(10), np.arange(4), idx, yx, yx))
        )
    assert store.attrs["band_groups"]["B5"] == "20m" and store.attrs["bands"] == list(ALL)
    np.testing.assert_allclose(
        store.array("x_60m")[0] - store.array("x")[0, 0], np.arange(4) * 60 + 25
    )
    ref = fill_shard(spec, 2)
    np.testing.assert_array_equal(store.array("lon")[8:10], ref.lon)
    np.testing.assert_array_equal(store.array("transform")[8:10], ref.transform)
    times = store.array("time")[8:10].astype("datetime64[ms]")
    np.testing.assert_array_equal(times, ref.time)
    assert list(store.array("product_id")[9]) == list(ref.product_id[1])
    assert store.done_shards().all()


def test_fast_reader_matches_zarr(tiny_store):
    reader = StoreReader(tiny_store)
    assert reader.fast
    samples = [9, 0, 5, 5]
    seasons = np.array([[3, 1, 0], [0, 1, 2], [2, 2, 3], [1, 0, 3]])
    got = reader.pixels(samples, seasons=seasons, bands=["B4", "B3", "B2"])
    za = tiny_store.array("pixels_10m")  # B2 B3 B4 B8
    for i, s in enumerate(samples):
        np.testing.assert_array_equal(
            got[i], za.get_orthogonal_selection((s, seasons[i], [2, 1, 0]))
        )
    native = reader.native(samples, seasons=seasons, bands=["B12", "B4", "B9"])
    np.testing.assert_array_equal(
        native.arrays["20m"][1, :, 0],
        tiny_store.array("pixels_20m").get_orthogonal_selection((0, seasons[1], 5)),
    )
    assert native.arrays["60m"].shape == (4, 3, 1, 4, 4)
    cloud = reader.cloud([7], seasons=[2])
    np.testing.assert_array_equal(cloud[0, 0], tiny_store.array("cloud")[7, 2])


@pytest.mark.parametrize("threads", [1, 3])
def test_subset_reads_decode_only_needed_chunks(tiny_store, threads):
    reader = StoreReader(tiny_store, threads=threads)
    out = reader.pixels([1, 6], seasons=[0, 2, 3], bands=["B4", "B3", "B2"])
    assert reader.chunks_read == 2 * 3 * 3  # not 2 × 4 × 13
    np.testing.assert_array_equal(out, expected([1, 6], [0, 2, 3], [3, 2, 1]))
    reader.pixels([1])
    assert reader.chunks_read == 18 + 4 * 13


class CountingBytes:
    """Byte source that records every range it serves."""

    def __init__(self, inner):
        self.inner, self.ranges = inner, []

    def read(self, key, offset, length):
        self.ranges.append((key, offset, length))
        return self.inner.read(key, offset, length)

    def read_suffix(self, key, length):
        self.ranges.append((key, "index", length))
        return self.inner.read_suffix(key, length)


def test_subset_read_touches_only_needed_bytes(tiny_store):
    reader = StoreReader(tiny_store)
    arr = reader._arrays["pixels_10m"]
    counter = CountingBytes(LocalBytes(tiny_store.location))
    arr.src = counter
    reader.pixels([5], seasons=[1], bands=["B8"])
    keys = {k for k, _, _ in counter.ranges}
    assert keys == {"pixels_10m/c/1/0/0/0/0"}  # sample 5 lives in shard 1 only
    data_reads = [r for r in counter.ranges if r[1] != "index"]
    assert len(data_reads) == 1
    per_image = SIZE * SIZE * 2
    assert data_reads[0][2] < per_image * 2  # one compressed image, not the shard


def test_ranged_reads_through_a_zarr_store(tiny_store):
    """The object-storage path (ranged ``get``) gives the same bytes as direct file reads."""
    reader = StoreReader(tiny_store)
    for name in ("pixels_10m", "pixels_20m"):
        reader._arrays[name].src = StoreBytes(tiny_store.group.store)
    got = reader.pixels([2, 8], seasons=[1, 3], bands=["B2", "B12"])
    np.testing.assert_array_equal(got, expected([2, 8], [1, 3], [1, 12]))


def test_fallback_path_gives_same_result(tiny_store):
    fast = StoreReader(tiny_store)
    slow = StoreReader(tiny_store)
    slow._arrays = {name: None for name in slow._arrays}
    args = dict(seasons=[3, 0], bands=["B11", "B1"])
    np.testing.assert_array_equal(fast.pixels([4, 7], **args), slow.pixels([4, 7], **args))
    np.testing.assert_array_equal(fast.cloud([4], seasons=[1]), slow.cloud([4], seasons=[1]))


def test_unwritten_shard_reads_as_fill(tmp_path):
    store = make_store(tmp_path / "p.zarr", n_samples=8, shards=[0])
    reader = StoreReader(store)
    assert (reader.pixels([6]) == 0).all()  # shard 1 absent → no-data value
    assert (reader.cloud([6]) == 255).all()
    assert store.pending_shards() == [1]


def test_reader_index_errors(tiny_store):
    reader = StoreReader(tiny_store)
    with pytest.raises(IndexError):
        reader.pixels([10])
    with pytest.raises(IndexError):
        reader.pixels([0], seasons=[4])
    with pytest.raises(KeyError, match="B99"):
        reader.pixels([0], bands=["B99"])


def test_write_shard_checks_shapes(tiny_store):
    store = open_store(tiny_store.location, "r+")
    data = empty_shard(store.spec, 0)
    data.pixels = data.pixels[:, :2]
    with pytest.raises(ShardShapeError, match="pixels hold"):
        write_shard(store, 0, data)
    with pytest.raises(PermissionError):
        write_shard(open_store(tiny_store.location), 0, fill_shard(store.spec, 0))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_rewriting_a_shard_is_idempotent(tiny_store):
    root = Path(tiny_store.location)
    before = _files(root)
    store = open_store(tiny_store.location, "r+")
    write_shard(store, 1, fill_shard(store.spec, 1))
    assert _files(root) == before


def test_local_bytes_keeps_few_files_open(tiny_store):
    src = LocalBytes(tiny_store.location, max_open=2)
    keys = [f"pixels_10m/c/{k}/0/0/0/0" for k in range(3)] + ["cloud/c/0/0/0/0"]
    first = [src.read_suffix(k, 100) for k in keys]
    assert len(src._fds) == 2 and list(src._fds) == keys[-2:]  # least recently used closed
    assert [src.read_suffix(k, 100) for k in keys] == first  # reopened where needed
    assert src.read("pixels_10m/c/9/0/0/0/0", 0, 10) is None  # absent shard, nothing kept
    src.close()
    assert not src._fds


def test_corrupted_chunk_names_itself(tiny_store):
    shard_file = Path(tiny_store.location) / "pixels_60m" / "c" / "1" / "0" / "0" / "0" / "0"
    raw = bytearray(shard_file.read_bytes())
    raw[40] ^= 0xFF  # inside sample 4's first image
    shard_file.write_bytes(bytes(raw))
    with StoreReader(tiny_store) as reader:
        with pytest.raises(
            ChunkReadError, match=r"pixels_60m/c/1/0/0/0/0 chunk \(4, 0, 0\): crc32c"
        ):
            reader.pixels([4], seasons=[0], bands=["B1"])
        assert reader.pixels([4], seasons=[0], bands=["B2"]).shape == (1, 1, 1, SIZE, SIZE)


def test_pixels_on_the_10m_grid_nearest_is_exact_bilinear_is_smooth(tiny_store):
    reader = StoreReader(tiny_store)
    near = reader.pixels([3], seasons=[2], bands=["B5", "B1"])
    np.testing.assert_array_equal(near, expected([3], [2], ["B5", "B1"]))
    native = reader.native([3], seasons=[2], bands=["B5", "B1"])
    np.testing.assert_array_equal(near[0, 0, 0, ::2, ::2], native.arrays["20m"][0, 0, 0])
    smooth = reader.pixels([3], seasons=[2], bands=["B5"], resample="bilinear")
    assert smooth.shape == near[:, :, :1].shape and not np.array_equal(smooth, near[:, :, :1])
    lo, hi = native.arrays["20m"].min(), native.arrays["20m"].max()
    assert smooth.min() >= lo and smooth.max() <= hi  # interpolation, not invention
    with pytest.raises(ValueError, match="resample"):
        reader.pixels([3], resample="cubic")


def test_readers_of_v1_v2_v3_agree_on_the_10m_bands(tmp_path):
    stores = {v: make_store(tmp_path / f"v{v}.zarr", layout_version=v) for v in (1, 2, 3)}
    assert "pixels" in set(stores[2].group.array_keys())
    assert "pixels_10m" in set(stores[3].group.array_keys())
    got = {
        v: StoreReader(s).pixels([1, 9], seasons=[0, 3], bands=["B8", "B2", "B3", "B4"])
        for v, s in stores.items()
    }
    np.testing.assert_array_equal(got[1], got[3])
    np.testing.assert_array_equal(got[2], got[3])
    # block data of a v2 store reads natively by exact decimation
    np.testing.assert_array_equal(
        StoreReader(stores[2]).native([5]).arrays["60m"],
        StoreReader(stores[3]).native([5]).arrays["60m"],
    )


def test_native_store_needs_a_size_divisible_by_6(tmp_path):
    with pytest.raises(ValueError, match="size 16 is not divisible by 6"):
        make_store(tmp_path / "bad.zarr", size=16)
    assert not (tmp_path / "bad.zarr").exists()
    rgb = make_store(tmp_path / "rgb.zarr", size=16, bands=("B4", "B3", "B2"))
    assert sorted(k for k in rgb.group.array_keys() if k.startswith("pixels")) == ["pixels_10m"]
