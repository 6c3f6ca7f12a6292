"""BigEarthNet v1 and v2 readers on fixtures in the released layouts: version detection,
exclusions, official and fallback splits, 43→19 labels, label fractions, evaluation end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.trainer.evaluate.bigearthnet_fixtures import (
    band_value,
    make_bigearthnet_v1,
    make_bigearthnet_v2,
)
from trainer.cli import main
from trainer.evaluate.readers.base import DatasetFormatError, DatasetNotFoundError
from trainer.evaluate.readers.bigearthnet import BigEarthNet
from trainer.evaluate.readers.bigearthnet_classes import (
    CLASSES_19,
    CLASSES_43,
    TO_19,
    labels_to_indices,
)


def test_nomenclature_merges_and_drops_as_published():
    assert len(CLASSES_43) == 43 and len(CLASSES_19) == 19
    dropped = set(CLASSES_43) - set(TO_19)
    assert len(dropped) == 11 and {"Airports", "Port areas", "Bare rock", "Burnt areas"} <= dropped
    assert set(TO_19.values()) == set(CLASSES_19)  # every 19-class name has a source
    assert TO_19["Rice fields"] == TO_19["Non-irrigated arable land"] == "Arable land"
    assert TO_19["Estuaries"] == "Marine waters" and TO_19["Salines"] == "Coastal wetlands"
    assert labels_to_indices(["Airports", "Discontinuous urban fabric"], 19) == [0]
    assert labels_to_indices(["Airports"], 43) == [5]
    with pytest.raises(ValueError, match="unknown BigEarthNet label"):
        labels_to_indices(["Urban fabric"], 43)


def test_v1_layout_exclusions_official_splits_and_labels(tmp_path):
    kept = make_bigearthnet_v1(tmp_path, n=8)
    ds = BigEarthNet(tmp_path, bands="B4,B3,B2,B8A,B1")
    assert ds.version == "v1" and len(ds) == 8 and ds.names == tuple(sorted(kept))
    parts = {s: [ds.names[i] for i in ds.indices(s)] for s in ("train", "val", "test")}
    assert parts == {"train": sorted(kept[:4]), "val": sorted(kept[4:6]), "test": sorted(kept[6:])}
    i = ds.names.index(kept[1])
    img = ds.image(i)
    assert img.shape == (5, 120, 120) and img.dtype == np.uint16
    for c, band in enumerate(("B04", "B03", "B02", "B8A", "B01")):  # 20/60 m resampled to 120
        assert band_value(1, band) <= img[c].min() and img[c].max() <= band_value(1, band) + 2
    idx = np.array([ds.names.index(k) for k in kept[:4]])
    y19 = ds.labels(idx)
    assert y19.shape == (4, 19)
    assert y19[0].tolist() == [c == 0 for c in range(19)]  # two urban fabrics → one class
    assert np.flatnonzero(y19[1]).tolist() == [CLASSES_19.index("Coniferous forest")]
    assert np.flatnonzero(y19[3]).tolist() == [2, 4]  # arable land (merged), pastures
    y43 = BigEarthNet(tmp_path, bands="rgb", classes=43).labels(idx)
    assert y43.shape == (4, 43) and np.flatnonzero(y43[1]).tolist() == [5, 23]


def test_v1_without_split_lists_stores_a_seeded_split(tmp_path):
    make_bigearthnet_v1(tmp_path / "data", n=10, split_lists=False)
    split = tmp_path / "s.json"
    ds = BigEarthNet(tmp_path / "data", bands="rgb", splits_file=split)
    sizes = [ds.indices(s).size for s in ("train", "val", "test")]
    assert sizes == [6, 2, 2] and split.is_file()
    again = BigEarthNet(tmp_path / "data", bands="rgb", splits_file=split)
    assert np.array_equal(again.indices("test"), ds.indices("test"))


def test_label_fraction_is_a_fixed_subset_without_duplicates(tmp_path):
    make_bigearthnet_v1(tmp_path, n=20, split_lists=False)
    full = BigEarthNet(tmp_path, bands="rgb", splits_file=tmp_path / "s.json")
    a = BigEarthNet(tmp_path, bands="rgb", label_fraction=0.5, splits_file=tmp_path / "s.json")
    b = BigEarthNet(tmp_path, bands="rgb", label_fraction=0.5, splits_file=tmp_path / "s.json")
    train = a.indices("train")
    assert train.size == 6 and np.unique(train).size == train.size
    assert set(train) < set(full.indices("train")) and np.array_equal(train, b.indices("train"))
    assert np.array_equal(a.indices("test"), full.indices("test"))
    with pytest.raises(ValueError, match="label-fraction"):
        BigEarthNet(tmp_path, bands="rgb", label_fraction=0)


def test_v2_layout_from_metadata(tmp_path):
    ids = make_bigearthnet_v2(tmp_path / "reben", n=8)
    ds = BigEarthNet(tmp_path / "reben", bands="rgb")
    assert ds.version == "v2" and ds.names == tuple(sorted(ids))  # the snowy patch is left out
    meta = pd.read_parquet(tmp_path / "reben" / "metadata.parquet").set_index("patch_id")
    for split, name in (("train", "train"), ("val", "validation"), ("test", "test")):
        assert {ds.names[i] for i in ds.indices(split)} == set(
            meta.index[(meta.split == name) & ~meta.contains_seasonal_snow]
        )
    i = ds.names.index(ids[3])
    assert ds.image(i).shape == (3, 120, 120)
    assert ds.image(i)[0].min() >= band_value(3, "B04")
    y = ds.labels(np.array([i]))[0]
    assert {CLASSES_19[c] for c in np.flatnonzero(y)} == set(meta.loc[ids[3], "labels"])
    with pytest.raises(DatasetFormatError, match="19-class"):
        BigEarthNet(tmp_path / "reben", classes=43)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no BigEarthNet"):
        BigEarthNet(tmp_path)
    make_bigearthnet_v1(tmp_path, n=4)
    (tmp_path / "test.csv").write_text("S2B_MSIL2A_20180525T94031_9_9\n")
    with pytest.raises(DatasetFormatError, match="test list names 1 patch"):
        BigEarthNet(tmp_path, bands="rgb")
    with pytest.raises(ValueError, match="no band B10"):
        BigEarthNet(tmp_path, bands="B10")


def test_evaluate_bigearthnet_end_to_end(tmp_path, capsys):
    make_bigearthnet_v2(tmp_path / "reben", n=16)
    out = tmp_path / "eval"
    argv = ["evaluate", "--task", "bigearthnet", "--data", str(tmp_path / "reben")]
    argv += ["--encoder", "random", "--size", "32", "--out", str(out)]
    assert main(argv) == 0
    df = pd.read_csv(out / "results.csv")
    metrics = set(df.metric)
    assert {"micro_map", "map", "micro_f1"} <= metrics
    assert set(df.protocol) == {"linear-multilabel"} and (df.n_test == 4).all()
    assert (
        main([*argv[:-2], "--bigearthnet-classes", "43", "--out", str(out)]) == 2
    )  # a dataset that does not fit the request is bad input
    assert "19-class" in capsys.readouterr().err
