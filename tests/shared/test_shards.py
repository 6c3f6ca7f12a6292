"""The direct shard encoder against zarr-python, the reference implementation."""

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec, GzipCodec, ZstdCodec

from shared.store.handle import open_store
from shared.store.location import put_bytes
from shared.store.shards import encode_shard, shard_key, shard_layout
from shared.testing import make_store


def random_images(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(1, min(info.max, 12000), size=shape, dtype=dtype)


@pytest.mark.parametrize("name", ["pixels_10m", "cloud"])
def test_zarr_reads_encoded_shards(tmp_path, name):
    store = make_store(tmp_path / "s.zarr", n_samples=10, shards=[], size=12)
    array = store.array(name)
    layout = shard_layout(array)
    assert (
        layout is not None and layout.decoder == "blosc" and layout.chunk_crc and layout.index_crc
    )
    rng = np.random.default_rng(0)
    data = random_images(rng, array.shape, array.dtype)
    data[3] = array.fill_value  # an empty slot: its images are left out
    for shard, start in enumerate(range(0, 10, 4)):  # the last shard holds 2 samples
        blob = encode_shard(layout, data[start : start + 4])
        put_bytes(store.group.store, shard_key(layout, shard), blob)
    np.testing.assert_array_equal(open_store(store.location).array(name)[:], data)


def test_empty_shard_encodes_to_nothing(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_samples=4, shards=[], size=12)
    layout = shard_layout(store.array("pixels_10m"))
    assert encode_shard(layout, np.zeros((4, 4, 4, 12, 12), np.uint16)) is None


def test_other_codec_chains(tmp_path):
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    kw = dict(
        shape=(6, 2, 8, 8), chunks=(1, 1, 8, 8), shards=(3, 2, 8, 8), dtype="uint16", fill_value=0
    )
    plain = group.create_array("zstd", compressors=[ZstdCodec(level=3)], **kw)
    layout = shard_layout(plain)
    assert layout.decoder == "zstd" and not layout.chunk_crc
    data = random_images(np.random.default_rng(1), plain.shape, np.uint16)
    for shard in range(2):
        put_bytes(
            group.store,
            shard_key(layout, shard),
            encode_shard(layout, data[3 * shard : 3 * shard + 3]),
        )
    np.testing.assert_array_equal(plain[:], data)
    shuffled = group.create_array(
        "bitshuffle",
        compressors=[BloscCodec(cname="lz4", clevel=3, shuffle="bitshuffle"), Crc32cCodec()],
        **kw,
    )
    layout = shard_layout(shuffled)
    put_bytes(group.store, shard_key(layout, 0), encode_shard(layout, data[:3]))
    np.testing.assert_array_equal(shuffled[:3], data[:3])
    assert shard_layout(group.create_array("gzip", compressors=[GzipCodec()], **kw)) is None
    unsharded = group.create_array("flat", shape=(4, 8, 8), chunks=(1, 8, 8), dtype="uint16")
    assert shard_layout(unsharded) is None


def test_encode_refuses_wrong_shapes(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_samples=4, shards=[], size=12)
    layout = shard_layout(store.array("pixels_10m"))
    with pytest.raises(ValueError, match="does not fit"):
        encode_shard(layout, np.zeros((5, 4, 13, 8, 8), np.uint16))
    with pytest.raises(ValueError, match="does not fit"):
        encode_shard(layout, np.zeros((4, 3, 13, 8, 8), np.uint16))


def test_encoder_compresses_like_zarr(tmp_path):
    """Same codec settings, same size: the byte shuffle must see 2-byte elements."""
    rng = np.random.default_rng(2)
    base = np.cumsum(rng.normal(0, 4, (4, 4, 4, 36, 36)), axis=-1) + 2000
    data = (base + rng.normal(0, 20, base.shape)).clip(1, 60000).astype(np.uint16)
    ours = make_store(tmp_path / "ours.zarr", n_samples=4, shards=[], size=36)
    layout = shard_layout(ours.array("pixels_10m"))
    blob = encode_shard(layout, data)
    theirs = make_store(tmp_path / "theirs.zarr", n_samples=4, shards=[], size=36)
    theirs.array("pixels_10m")[:] = data  # zarr-python's own sharded write
    reference = (
        (tmp_path / "theirs.zarr" / "pixels_10m" / "c" / "0" / "0" / "0" / "0" / "0").stat().st_size
    )
    assert abs(len(blob) - reference) / reference < 0.02
