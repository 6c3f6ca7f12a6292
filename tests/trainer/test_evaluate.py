"""Evaluation end to end on CPU: synthetic tasks from a truth store, EuroSAT and OSCD fixtures,
protocols on data whose answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import collected_store
from tests.trainer.conftest import tiny_args
from tests.trainer.evaluate.fixtures import make_eurosat, make_oscd
from tools.science_page import MARKER
from tools.science_page import main as science_main
from trainer.cli import main
from trainer.evaluate.probe import Split, knn, linear_probe
from trainer.evaluate.synthetic import SEASONS, SyntheticChange, SyntheticLandcover, SyntheticSeason
from trainer.evaluate.tasks import TASKS, check_splits, read_images, task_labels


@pytest.fixture(scope="session")
def truth_store(tmp_path_factory):
    flags = ("--region=-5,40,20,55", "--n", "40", "--seed", "3", "--source", "synthetic")
    more = ("--size", "48", "--shard-samples", "8", "--spares", "2", "--truth")
    return str(collected_store(tmp_path_factory, "truth", *flags, *more))


def test_landcover_task_labels_and_stored_splits(truth_store, tmp_path):
    splits = tmp_path / "split.json"
    task = SyntheticLandcover(truth_store, ("B4", "B3", "B2"), splits)
    assert len(task) >= 36 and task.classes[0] == "water"
    for i in (0, len(task) // 2, len(task) - 1):
        cover = task.reader.landcover([task.samples[i]], seasons=[int(task.season[i])])[0, 0]
        assert task.label(i) == int(np.bincount(cover.ravel(), minlength=8).argmax())
        assert task.image(i).shape == (3, 48, 48)
    assert len(set(task.season.tolist())) > 1  # seasons vary: season is a nuisance
    parts = [set(task.indices(s).tolist()) for s in ("train", "val", "test")]
    assert (
        not (parts[0] & parts[1])
        and not (parts[1] & parts[2])
        and set().union(*parts) == set(range(len(task)))
    )
    stored = json.loads(splits.read_text())
    again = SyntheticLandcover(truth_store, ("B4", "B3", "B2"), splits)
    assert (
        np.array_equal(again.indices("test"), task.indices("test"))
        and json.loads(splits.read_text()) == stored
    )
    multi = SyntheticLandcover(truth_store, ("B8",), tmp_path / "m.json", multilabel=True)
    presence = multi.labels(np.arange(len(multi)))
    assert presence.dtype == bool and presence.any(axis=1).all()


def test_season_task_labels_the_season_of_the_acquisition_date(truth_store, tmp_path):
    from shared.store.handle import open_store

    task = SyntheticSeason(truth_store, ("B4", "B3", "B2"), tmp_path / "s.json")
    land = SyntheticLandcover(truth_store, ("B4", "B3", "B2"), tmp_path / "l.json")
    assert task.classes == SEASONS and np.array_equal(task.season, land.season)  # same images
    times = np.asarray(open_store(truth_store).array("time")[:]).astype("datetime64[ms]")
    for i in (0, len(task) // 2, len(task) - 1):
        month = int(str(times[task.samples[i], task.season[i]])[5:7])
        expected = {12: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2}.get(month, 3)
        assert task.label(i) == expected  # the fixture lies north of the equator
    assert len(set(task.labels(np.arange(len(task))).tolist())) > 1
    test = task.labels(task.indices("test"))
    assert test.dtype == np.int64 and test.max() < 4
    # opened again (the next encoder), the stored split is reused and the labels are the same
    again = SyntheticSeason(truth_store, ("B4", "B3", "B2"), tmp_path / "s.json")
    assert np.array_equal(again.labels(again.indices("test")), test)


def test_change_task_masks_match_the_truth(truth_store, tmp_path):
    task = SyntheticChange(truth_store, ("B4", "B3", "B2"), tmp_path / "c.json")
    changed = 0
    for i in range(len(task)):
        before, after, mask = task.pair(i)
        cover = task.reader.landcover([task.samples[i]], seasons=[0, task.last])[0]
        assert np.array_equal(mask, cover[0] != cover[1]) and before.shape == after.shape == (
            3,
            48,
            48,
        )
        changed += bool(mask.any())
    assert 0 < changed < len(task)  # some locations changed, most did not


def test_linear_probe_and_knn_on_known_structure():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (3, 16))

    def split(n):
        y = rng.integers(0, 3, n)
        return Split((centres[y] + rng.normal(0, 0.5, (n, 16))).astype(np.float32), y)

    train, val, test = split(120), split(40), split(60)
    assert linear_probe(train, val, test, 3)["accuracy"] == 1.0
    assert knn(train, test, 3)["accuracy"] == 1.0
    noise = Split(rng.normal(size=(60, 16)).astype(np.float32), rng.integers(0, 3, 60))
    assert linear_probe(noise, val, test, 3)["accuracy"] < 0.7  # labels unrelated to features
    multi_y = np.stack([train.y == 0, train.y != 2], axis=1)
    multi = linear_probe(
        Split(train.x, multi_y),
        Split(val.x, np.stack([val.y == 0, val.y != 2], 1)),
        Split(test.x, np.stack([test.y == 0, test.y != 2], 1)),
        2,
        multilabel=True,
    )
    assert multi["map"] > 0.99


def test_evaluate_random_and_trained_encoders(truth_store, train_store, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(tiny_args(train_store, run, "--steps", "2")) == 0
    out = tmp_path / "eval"
    argv = [
        "evaluate",
        "--task",
        "synthetic-landcover",
        "--data",
        truth_store,
        "--encoder",
        "random",
        "--encoder",
        str(run / "checkpoint.pt"),
        "--out",
        str(out),
        "--size",
        "32",
    ]
    assert main(argv) == 0
    assert "synthetic-landcover — linear" in capsys.readouterr().out
    df = pd.read_csv(out / "results.csv")
    assert set(df.encoder) == {"random-resnet18", "seco-resnet18"} and set(df.protocol) == {
        "linear",
        "knn",
    }
    acc = df[df.metric == "accuracy"]
    assert len(acc) == 4 and acc.value.between(0, 1).all()
    assert (out / "results.png").stat().st_size > 0 and "| encoder |" in (
        out / "results.md"
    ).read_text()
    # a second task evaluated into the same folder joins the same table
    argv = [
        "evaluate",
        "--task",
        "synthetic-change",
        "--data",
        truth_store,
        "--encoder",
        "random",
        "--out",
        str(out),
        "--size",
        "32",
        "--change-steps",
        "5",
    ]
    assert main(argv) == 0
    df = pd.read_csv(out / "results.csv")
    change = df[df.protocol == "change"].set_index("metric").value
    assert {"precision", "recall", "f1", "iou"} <= set(change.index) and change.between(0, 1).all()
    assert set(df.task) == {"synthetic-landcover", "synthetic-change"}
    assert (
        (out / "results.md")
        .read_text()
        .startswith("# Evaluation on synthetic-change, synthetic-landcover\n")
    )
    # the science page writes down what was measured and keeps a person's discussion
    page = tmp_path / "docs" / "science.md"
    page.parent.mkdir()
    argv = ["--results", str(out), "--runs", str(tmp_path), "--out", str(page)]
    assert science_main(argv) == 0
    text = page.read_text()
    assert "| run | steps |" in text and "\n| run | 2 |" in text
    assert "synthetic-change — change" in text and "synthetic-landcover — knn" in text
    seed = torch.load(run / "checkpoint.pt", weights_only=True)["config"]["seed"]
    assert f"pre-training seed(s) {seed};" in text
    assert (page.parent / "science.png").stat().st_size > 0
    page.write_text(text + "What a person read in the tables.\n")
    assert science_main(argv) == 0
    again = page.read_text()
    assert again.count(MARKER) == 1 and again.endswith(
        MARKER + "\nWhat a person read in the tables.\n"
    )


def evaluate_cli(task, data, out, *extra, encoder="random"):
    """``python -m trainer evaluate`` in-process; its exit code."""
    argv = ["evaluate", "--task", task, "--data", str(data), "--encoder", encoder]
    return main([*argv, "--out", str(out), *extra])


def test_eurosat_and_oscd_readers_through_evaluate(tmp_path):
    eurosat = tmp_path / "eurosat"
    make_eurosat(eurosat, per_class=10, classes=3, size=32)
    assert evaluate_cli("eurosat", eurosat, tmp_path / "e", "--bands", "all", "--size", "32") == 0
    df = pd.read_csv(tmp_path / "e" / "results.csv")
    assert set(df.protocol) == {"linear", "knn"} and int(df.n_test.iloc[0]) == 6
    oscd = tmp_path / "oscd"
    make_oscd(oscd, cities=tuple("abcdefg"), train=tuple("abcde"), test=("f", "g"))
    extra = ("--bands", "rgb", "--size", "32", "--change-steps", "3")
    assert evaluate_cli("oscd", oscd, tmp_path / "o", *extra) == 0
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert set(df.metric) >= {"f1", "iou"} and int(df.n_test.iloc[0]) == 2


def test_evaluate_bad_input_is_one_line(tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                "--task",
                "eurosat",
                "--data",
                str(tmp_path / "none"),
                "--encoder",
                "random",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert (
        main(["evaluate", "--task", "imagenet", "--data", "x", "--encoder", "random", "--out", "o"])
        == 2
    )
    assert evaluate_cli("eurosat", "x", tmp_path / "o", encoder="nothing.pt") == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_13_band_pretrain_and_evaluation_on_a_native_resolution_store(
    truth_store, train_store, tmp_path, capsys
):
    """Both stores are layout 3 (20/60 m bands at their own resolution): pre-training reads
    them natively and upsamples on the device; evaluation reads them on the 10 m grid."""
    from shared.store.handle import open_store

    for path in (truth_store, train_store):
        store = open_store(path)
        assert store.layout_version == 3 and store.spec.n_bands == 13
        assert "pixels_60m" in set(store.group.array_keys())
    run = tmp_path / "run13"
    assert main(tiny_args(train_store, run, "--steps", "2", "--bands", "all")) == 0
    out = tmp_path / "eval13"
    argv = ["evaluate", "--task", "synthetic-landcover", "--data", truth_store]
    argv += ["--encoder", str(run / "checkpoint.pt"), "--out", str(out), "--size", "32"]
    assert main(argv) == 0
    df = pd.read_csv(out / "results.csv")
    acc = df[df.metric == "accuracy"]
    assert set(df.encoder) == {"seco-resnet18"} and len(acc) == 2
    assert acc.value.between(0, 1).all()


def _task_data(name, truth_store, root):
    """Data for every task of the table, from the fixtures (a new task must add its own)."""
    from tests.trainer.evaluate.bigearthnet_fixtures import make_bigearthnet_v1

    makers = {
        "synthetic-landcover": lambda: truth_store,
        "synthetic-season": lambda: truth_store,
        "synthetic-change": lambda: truth_store,
        "eurosat": lambda: str(make_eurosat(root / "eurosat", per_class=6, classes=3, size=32)),
        "oscd": lambda: str(make_oscd(root / "oscd", tuple("abcdefg"), tuple("abcde"), ("f", "g"))),
        "bigearthnet": lambda: make_bigearthnet_v1(root / "ben", n=8) and str(root / "ben"),
    }
    assert set(makers) == set(TASKS), "a task without fixture data here"
    return makers[name]()


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_opens_with_its_kind_and_splits(name, truth_store, tmp_path):
    """Each record opens its data with the bands asked, holds train and test items, and gives
    what its kind needs: images and labels to classify, image pairs and a mask for change."""
    task = TASKS[name]
    assert task.protocols and task.kind in ("classification", "change")
    ds = task.open(_task_data(name, truth_store, tmp_path), ("B4", "B3", "B2"), tmp_path, seed=0)
    n = check_splits(name, "fixture", ds)
    assert n["n_train"] > 0 and n["n_test"] > 0 and tuple(ds.bands) == ("B4", "B3", "B2")
    first = ds.indices("train")[:2]
    if task.kind == "classification":
        images = read_images(ds)(first)
        assert images.shape[:2] == (len(first), 3)
        assert len(task_labels(ds, first)) == len(first) and len(ds.classes) >= 2
    else:
        before, after, mask = ds.pair(int(first[0]))
        assert before.shape[0] == after.shape[0] == 3 and mask.shape == before.shape[1:]
    assert (tmp_path / "splits").is_dir() or name == "bigearthnet"
