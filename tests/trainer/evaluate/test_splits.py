"""Stored, deterministic evaluation splits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trainer.evaluate.splits import (
    FORMAT,
    SplitFileError,
    read_split,
    seeded_subset,
    stored_split,
    stratified_split,
)


def keys_and_labels(per_class: int, classes: int) -> tuple[list[str], list[int]]:
    keys = [f"k{c}_{i}" for c in range(classes) for i in range(per_class)]
    return keys, [int(k[1:].split("_")[0]) for k in keys]


def test_stratified_split_proportions_per_class():
    keys, labels = keys_and_labels(50, 10)
    split = stratified_split(keys, labels)
    assert sorted(sum(split.values(), [])) == sorted(keys)  # covers all, no repeats
    label_of = dict(zip(keys, labels, strict=True))
    for name, share in (("train", 30), ("val", 10), ("test", 10)):
        counts = np.bincount([label_of[k] for k in split[name]], minlength=10)
        assert counts.tolist() == [share] * 10, name


@pytest.mark.parametrize(("n", "sizes"), [(1, (1, 0, 0)), (4, (2, 1, 1)), (7, (4, 2, 1))])
def test_rounding_of_small_classes(n, sizes):
    # cuts at round(0.6 n) and round(0.8 n): n=4 → 2.4→2, 3.2→3; n=7 → 4.2→4, 5.6→6
    split = stratified_split([f"x{i}" for i in range(n)], [0] * n)
    assert tuple(len(split[s]) for s in ("train", "val", "test")) == sizes


def test_stratified_split_is_deterministic_and_order_free():
    keys, labels = keys_and_labels(20, 3)
    a = stratified_split(keys, labels, seed=0)
    rev = stratified_split(keys[::-1], labels[::-1], seed=0)
    assert a == rev and a == stratified_split(keys, labels, seed=0)
    assert a != stratified_split(keys, labels, seed=1)
    assert all(v == sorted(v) for v in a.values())


def test_stratified_split_rejects_bad_input():
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(["a"], [0], fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="keys repeat"):
        stratified_split(["a", "a"], [0, 1])
    with pytest.raises(ValueError, match="2 keys but 1 labels"):
        stratified_split(["a", "b"], [0])


def test_stored_split_makes_once_then_reads(tmp_path):
    path = tmp_path / "deep" / "split.json"
    calls = []

    def make():
        calls.append(1)
        return {"train": ["a", "b"], "val": ["c"], "test": []}

    first = stored_split(path, make)
    assert json.loads(path.read_text()) == {"format": FORMAT, "splits": first}
    assert list(tmp_path.rglob("*.tmp")) == []  # the temporary file was renamed into place

    def fail():
        raise AssertionError("make() must not run when the file exists")

    assert stored_split(path, fail) == first and calls == [1]


def test_stored_split_validation(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"train": ["a"], "test": ["b"]}')  # a bare hand-written mapping is read
    assert read_split(path) == {"train": ["a"], "test": ["b"]}
    path.write_text('{"train": ["a"], "test": ["a"]}')
    with pytest.raises(SplitFileError, match="'a' appears in split 'train' and again in 'test'"):
        stored_split(path, dict)
    path.write_text("{not json")
    with pytest.raises(SplitFileError, match="not valid JSON"):
        read_split(path)
    path.write_text('{"train": [1, 2]}')
    with pytest.raises(SplitFileError, match="not a list of strings"):
        read_split(path)
    with pytest.raises(SplitFileError, match="appears in split"):
        stored_split(tmp_path / "new.json", lambda: {"train": ["x"], "val": ["x"]})
    assert not (tmp_path / "new.json").exists()


def test_seeded_subset():
    pool = [f"c{i}" for i in range(14)]
    a = seeded_subset(pool, 3, seed=0)
    assert a == seeded_subset(pool[::-1], 3, seed=0) and a == sorted(a) and len(set(a)) == 3
    with pytest.raises(ValueError, match="cannot choose 15 of 14"):
        seeded_subset(pool, 15)
