"""OSCD reader on tiny copies of the release layout (fixtures.make_oscd)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.trainer.evaluate.fixtures import (
    make_oscd,
    oscd_mask,
    oscd_shape,
    oscd_value,
    write_tif,
)
from trainer.evaluate.readers import (
    L1C_ORDER,
    OSCD,
    OSCD_FOLDERS,
    DatasetFormatError,
    DatasetNotFoundError,
    PairDataset,
)

CITIES = ("a", "b", "c", "d", "e")
SIZE = (40, 32)


@pytest.fixture
def root(tmp_path):
    return make_oscd(tmp_path / "oscd", cities=CITIES, size=SIZE)


def test_pairs_values_shapes_and_masks(root):
    ds = OSCD(root, val_cities=1)
    assert isinstance(ds, PairDataset)
    assert len(ds) == 5 and [ds.name(i) for i in range(5)] == list(CITIES)
    for k in range(5):
        before, after, change = ds.pair(k)
        h, w = oscd_shape(k, SIZE)  # sizes differ per city
        assert before.shape == after.shape == (13, h, w)
        assert before.dtype == after.dtype == np.uint16 and change.dtype == bool
        assert before[:, -1, -1].tolist() == [oscd_value(k, 0, b) for b in L1C_ORDER]
        assert after[:, 0, 0].tolist() == [oscd_value(k, 1, b) for b in L1C_ORDER]
        # city "a"'s mask is an RGB PNG, the others greyscale; both come back as the pattern
        np.testing.assert_array_equal(change, oscd_mask(k, (h, w)))
    assert ds.cities[0].dates == ("20160117", "20180128")
    assert ds.cities[3].official_split == "test" and "Test Labels" in str(ds.cities[3].mask)


def test_band_subset(root):
    ds = OSCD(root, bands="B8A,B4,B03", val_cities=1)
    before, after, _ = ds.pair(2)
    assert ds.bands == ("B8A", "B4", "B3") and before.shape[0] == 3
    assert after[:, 0, 0].tolist() == [oscd_value(2, 1, b) for b in ("B8A", "B4", "B3")]


def test_val_is_carved_out_of_train_and_stored(root):
    ds = OSCD(root, val_cities=1)
    names = {s: {ds.name(int(i)) for i in ds.indices(s)} for s in ("train", "val", "test")}
    assert len(names["val"]) == 1 and names["train"] | names["val"] == {"a", "b", "c"}
    assert not names["train"] & names["val"] and names["test"] == {"d", "e"}
    path = root / OSCD_FOLDERS["images"] / "seco-split-oscd-val1.json"
    assert ds.splits_path == path and path.is_file()
    # reused on the next open: swap the val city for another train city by hand
    (val,) = names["val"]
    other = sorted(names["train"])[0]
    doc = json.loads(path.read_text())
    doc["splits"]["val"], doc["splits"]["train"] = [other], sorted({"a", "b", "c"} - {other})
    path.write_text(json.dumps(doc))
    again = OSCD(root, val_cities=1)
    assert [again.name(int(i)) for i in again.indices("val")] == [other] != [val]


def test_val_choice_is_seeded_and_sized(tmp_path):
    cities = tuple("abcdefghij")
    kw = {"cities": cities, "train": cities[:7], "test": cities[7:], "size": (8, 8)}
    one = OSCD(make_oscd(tmp_path / "1", **kw))  # the default: 3 validation cities
    two = OSCD(make_oscd(tmp_path / "2", **kw))
    assert len(one.indices("val")) == 3 and len(one.indices("train")) == 4
    np.testing.assert_array_equal(one.indices("val"), two.indices("val"))
    none = OSCD(tmp_path / "1", val_cities=0)
    assert none.indices("val").size == 0 and none.indices("train").size == 7
    with pytest.raises(ValueError, match="val_cities=7"):
        OSCD(tmp_path / "1", val_cities=7)


def test_missing_things_are_named(tmp_path, root):
    with pytest.raises(FileNotFoundError, match="no OSCD release"):
        OSCD(tmp_path / "nowhere")
    images = root / OSCD_FOLDERS["images"]
    (images / "b" / "imgs_2_rect" / "B8A.tif").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"city 'b': band B8A file .*imgs_2_rect"):
        OSCD(root, val_cities=1)
    assert len(OSCD(root, bands="rgb", val_cities=1)) == 5  # a band not asked for may be absent
    (root / OSCD_FOLDERS["test"] / "e" / "cm" / "cm.png").unlink()
    with pytest.raises(DatasetNotFoundError, match="city 'e': change mask"):
        OSCD(root, bands="rgb", val_cities=1)
    (images / "test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="test.txt"):
        OSCD(root, bands="rgb", val_cities=1)


def test_band_sizes_must_agree_within_a_date(root):
    path = root / OSCD_FOLDERS["images"] / "c" / "imgs_1_rect" / "B05.tif"
    write_tif(path, np.ones((1, 7, 9), np.uint16))
    ds = OSCD(root, val_cities=1)
    with pytest.raises(DatasetFormatError, match=r"city 'c', imgs_1_rect: band B5 is \(7, 9\)"):
        ds.pair(2)
    assert ds.pair(1)[0].shape == (13, 41, 34)  # other cities still read


def test_unknown_band_lists_valid_names(root):
    with pytest.raises(ValueError, match="unknown band.*'B0'.*valid names are B1, B2"):
        OSCD(root, bands=("B4", "B0"))


def test_stored_split_that_disagrees_with_the_lists_is_refused(root):
    OSCD(root, val_cities=1)
    images = root / OSCD_FOLDERS["images"]
    (images / "train.txt").write_text("a,b\n")
    (images / "test.txt").write_text("c,d,e\n")
    with pytest.raises(DatasetFormatError, match="does not match train.txt/test.txt"):
        OSCD(root, val_cities=1)
