"""EuroSAT reader on tiny copies of the real layout (fixtures.make_eurosat)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.trainer.evaluate.fixtures import EUROSAT_CLASSES, eurosat_value, make_eurosat
from trainer.evaluate.readers import (
    L1C_ORDER,
    DatasetFormatError,
    DatasetNotFoundError,
    EuroSAT,
    ImageDataset,
)
from trainer.evaluate.readers import base as readers_base
from trainer.evaluate.readers.eurosat import ARCHIVE_SUBDIR, EUROSAT_FILE_ORDER, SPLIT_JSON


def file_pos(band: str) -> int:
    return EUROSAT_FILE_ORDER.index(band) + 1


def test_labels_classes_and_canonical_band_order(tmp_path):
    ds = EuroSAT(make_eurosat(tmp_path, per_class=4, classes=3))
    assert isinstance(ds, ImageDataset)
    assert len(ds) == 12 and ds.classes == EUROSAT_CLASSES[:3] and ds.bands == L1C_ORDER
    for i in range(len(ds)):
        c, j = divmod(i, 4)
        assert ds.key(i) == f"{EUROSAT_CLASSES[c]}_{j + 1}" and ds.label(i) == c
        img = ds.image(i)
        assert img.shape == (13, 64, 64) and img.dtype == np.uint16
        assert (img == img[:, :1, :1]).all()  # constant planes
        expected = [eurosat_value(c, j, file_pos(b)) for b in L1C_ORDER]
        assert img[:, 0, 0].tolist() == expected
    # B8A is the 13th band of the file but the 9th channel here; B9 follows it
    assert ds.image(0)[8, 0, 0] == eurosat_value(0, 0, 13)
    assert ds.image(0)[9, 0, 0] == eurosat_value(0, 0, 9)
    np.testing.assert_array_equal(ds.targets, np.repeat([0, 1, 2], 4))


@pytest.mark.parametrize(
    ("bands", "names"),
    [
        (("B4", "B3", "B2"), ("B4", "B3", "B2")),
        ("rgb", ("B4", "B3", "B2")),
        (["b8a", "B02", "B12"], ("B8A", "B2", "B12")),
    ],
)
def test_band_subset_keeps_the_order_asked(tmp_path, bands, names):
    ds = EuroSAT(make_eurosat(tmp_path, per_class=2, classes=2), bands=bands)
    assert ds.bands == names
    img = ds.image(3)  # class 1, file 1
    assert img.shape == (len(names), 64, 64)
    assert img[:, 5, 7].tolist() == [eurosat_value(1, 1, file_pos(b)) for b in names]


def test_files_sort_by_number_not_text(tmp_path):
    ds = EuroSAT(make_eurosat(tmp_path, per_class=11, classes=1))
    assert [ds.key(i) for i in range(len(ds))] == [f"AnnualCrop_{n}" for n in range(1, 12)]


def test_stratified_split_is_stored_and_reused(tmp_path):
    root = make_eurosat(tmp_path, per_class=5, classes=3)
    ds = EuroSAT(root)
    parts = [ds.indices(s) for s in ("train", "val", "test")]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(15))  # disjoint, cover all
    for idx, share in zip(parts, (3, 1, 1), strict=True):  # 60/20/20 of 5 in every class
        assert np.bincount(ds.targets[idx], minlength=3).tolist() == [share] * 3
    assert ds.splits_path == root / SPLIT_JSON and ds.splits_path.is_file()
    # a second open reads the stored file: tamper with it and the reader follows
    doc = json.loads(ds.splits_path.read_text())
    moved = doc["splits"]["train"].pop(0)
    doc["splits"]["test"].append(moved)
    ds.splits_path.write_text(json.dumps(doc))
    again = EuroSAT(root)
    assert moved in {again.key(int(i)) for i in again.indices("test")}
    assert len(again.indices("train")) == 8 and len(again.indices("test")) == 4


def test_split_is_the_same_for_a_fresh_copy(tmp_path):
    a = EuroSAT(make_eurosat(tmp_path / "a", per_class=5, classes=3))
    b = EuroSAT(make_eurosat(tmp_path / "b", per_class=5, classes=3))
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(a.indices(s), b.indices(s))


def test_splits_file_argument_and_read_only_fallback(tmp_path, monkeypatch):
    root = make_eurosat(tmp_path / "data", per_class=3, classes=2)
    ds = EuroSAT(root, splits_file=tmp_path / "mine" / "s.json")
    assert (tmp_path / "mine" / "s.json").is_file() and not (root / SPLIT_JSON).exists()
    # a data folder where nothing can be written: the split goes to the cache folder
    monkeypatch.setattr(readers_base, "_writable", lambda folder: False)
    monkeypatch.setenv("SECO_CACHE_DIR", str(tmp_path / "cache"))
    ro = EuroSAT(root)
    assert ro.splits_path is not None and ro.splits_path.parent == tmp_path / "cache" / "splits"
    assert ro.splits_path.is_file() and not (root / SPLIT_JSON).exists()
    assert EuroSAT(root).splits_path == ro.splits_path
    np.testing.assert_array_equal(ro.indices("val"), ds.indices("val"))


def test_public_split_lists_take_precedence(tmp_path):
    root = make_eurosat(tmp_path, per_class=3, classes=2)
    (root / "eurosat-train.txt").write_text("AnnualCrop_1.jpg\nForest_2.jpg\n\n")
    (root / "eurosat-val.txt").write_text("AnnualCrop_2.jpg\n")
    (root / "eurosat-test.txt").write_text("Forest_1.jpg\nForest_3.jpg\n")
    ds = EuroSAT(root)
    assert ds.splits_path is None and not (root / SPLIT_JSON).exists()
    keys = {s: [ds.key(int(i)) for i in ds.indices(s)] for s in ("train", "val", "test")}
    assert keys == {
        "train": ["AnnualCrop_1", "Forest_2"],
        "val": ["AnnualCrop_2"],
        "test": ["Forest_1", "Forest_3"],
    }  # AnnualCrop_3 is listed nowhere, so it is in no split
    (root / "eurosat-test.txt").write_text("Forest_9.jpg\n")
    with pytest.raises(DatasetFormatError, match="Forest_9"):
        EuroSAT(root)
    (root / "eurosat-test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="eurosat-test.txt"):
        EuroSAT(root)


@pytest.mark.parametrize(
    "inner", [ARCHIVE_SUBDIR, "EuroSAT_MS", f"EuroSATallBands/{ARCHIVE_SUBDIR}"]
)
def test_nested_roots_are_found(tmp_path, inner):
    data = make_eurosat(tmp_path / inner, per_class=2, classes=2)
    ds = EuroSAT(tmp_path)
    assert ds.data_dir == data and len(ds) == 4 and ds.classes == EUROSAT_CLASSES[:2]
    assert ds.splits_path == data / SPLIT_JSON  # the same file whichever root is given


def test_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EuroSAT(tmp_path / "nowhere")
    (tmp_path / "empty" / "Forest").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no EuroSAT class folders"):
        EuroSAT(tmp_path / "empty")
    root = make_eurosat(tmp_path / "d", per_class=2, classes=2)
    with pytest.raises(ValueError, match="unknown band.*'B13'.*B8A"):
        EuroSAT(root, bands=("B4", "B13"))
    with pytest.raises(ValueError, match="repeats"):
        EuroSAT(root, bands="B4,B04")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        EuroSAT(root).indices("valid")


def test_a_stored_split_that_no_longer_fits_the_data_is_refused(tmp_path):
    root = make_eurosat(tmp_path, per_class=2, classes=2)
    EuroSAT(root)
    make_eurosat(tmp_path, per_class=3, classes=2)  # one more file per class
    with pytest.raises(DatasetFormatError, match="leaves out 2 file"):
        EuroSAT(root)
