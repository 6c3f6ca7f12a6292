import numpy as np
import pytest

from shared.errors import LayoutVersionError, NotAStoreError, StoreExistsError
from shared.layout.arrays import array_defs
from shared.layout.spec import LAYOUT_VERSION, StoreSpec
from shared.secrets import REDACTED, redact
from shared.store.handle import create_store, open_store
from tests.conftest import set_root_attr


def test_spec_validation():
    with pytest.raises(ValueError, match="n_samples"):
        StoreSpec(n_samples=0)
    with pytest.raises(ValueError, match="subset"):
        StoreSpec(n_samples=1, collection="L2A", bands=("B10",))
    with pytest.raises(ValueError, match="collection"):
        StoreSpec(n_samples=1, collection="L9")
    spec = StoreSpec(n_samples=10, shard_samples=4)
    assert spec.n_shards == 3 and spec.shard_slice(2) == slice(8, 10)


def test_array_defs_shard_whole_samples():
    spec = StoreSpec(n_samples=100, n_seasons=4, size=264, shard_samples=16)
    defs = array_defs(spec)
    assert "pixels" not in defs and "cloud" in defs
    for group, side, nb in (("10m", 264, 4), ("20m", 132, 6), ("60m", 44, 3)):
        px = defs[f"pixels_{group}"]
        suffix = "" if group == "10m" else f"_{group}"
        assert px.dims == ("sample", "season", f"band_{group}", f"y{suffix}", f"x{suffix}")
        assert px.chunks == (1, 1, 1, side, side) and px.shards == (16, 4, nb, side, side)
        assert px.attrs["resolution_m"] == 10 * 264 / side
    assert defs["x_60m"].shape == (100, 44) and defs["cloud"].shape[-1] == 264
    v2 = array_defs(spec, 2)
    assert v2["pixels"].shards == (16, 4, 13, 264, 264) and "pixels_10m" not in v2
    for d in defs.values():  # every per-sample array is chunked by whole shards
        if d.dims[0] == "sample":
            assert (d.shards or d.chunks)[0] == 16


def test_create_records_attrs_without_secrets(tmp_path):
    spec = StoreSpec(n_samples=4, size=12, shard_samples=2)
    cfg = {
        "region": "europe",
        "ee": {"key_file": "/home/u/key.json", "project": "p"},
        "note": "-----BEGIN PRIVATE KEY-----abc",
    }
    store = create_store(tmp_path / "s.zarr", spec, source="synthetic", synthetic=True, config=cfg)
    text = (tmp_path / "s.zarr" / "zarr.json").read_text()
    assert "key.json" not in text and "PRIVATE KEY" not in text
    attrs = open_store(tmp_path / "s.zarr").attrs
    assert attrs["layout_version"] == LAYOUT_VERSION and attrs["source"] == "synthetic"
    assert attrs["synthetic"] is True and "SYNTHETIC" in attrs["title"]
    assert attrs["config"]["ee"] == {"key_file": REDACTED, "project": "p"}
    assert attrs["bands"] == list(spec.bands) and attrs["size"] == 12
    assert store.pending_shards() == [0, 1]


def test_create_refuses_existing(tmp_path, tiny_store):
    with pytest.raises(StoreExistsError):
        create_store(tiny_store.location, tiny_store.spec, source="synthetic", synthetic=True)


def test_open_errors(tmp_path):
    with pytest.raises(NotAStoreError, match="no such store"):
        open_store(tmp_path / "missing.zarr")
    (tmp_path / "folder").mkdir()
    with pytest.raises(NotAStoreError, match="not a Zarr store"):
        open_store(tmp_path / "folder")


def test_open_wrong_version(tiny_store):
    set_root_attr(tiny_store.location, "layout_version", 99)
    with pytest.raises(LayoutVersionError, match="99"):
        open_store(tiny_store.location)


def test_redact_nested():
    out = redact({"a": [{"token": "t", "x": 1}], "password": "", "url": "https://h/x?sig=abc"})
    assert out == {
        "a": [{"token": REDACTED, "x": 1}],
        "password": "",
        "url": f"https://h/x?sig={REDACTED}",  # the URL stays readable, its token does not
    }
    assert np.isscalar(redact(3))


def test_public_names_resolve():
    import shared

    for name in shared.__all__:
        assert getattr(shared, name) is not None
    with pytest.raises(AttributeError):
        shared.no_such_name  # noqa: B018
