"""Bootstrap intervals, runs over seeds, the paper protocol on each task at tiny scale, OSCD's
fallback splits and empty-split errors."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from tests.trainer.evaluate.bigearthnet_fixtures import make_bigearthnet_v2
from tests.trainer.evaluate.fixtures import make_eurosat, make_oscd
from trainer.cli import main
from trainer.evaluate.metrics import BinaryCounts
from trainer.evaluate.paper import Uint8Pairs, train_head
from trainer.evaluate.readers import OSCD, EuroSAT
from trainer.evaluate.report import _averaged_runs, write_results
from trainer.evaluate.run import seed_rows
from trainer.evaluate.uncertainty import (
    bootstrap,
    change_metrics,
    classification_metrics,
    seed_interval,
)


def test_bootstrap_interval_holds_the_value_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 2000):
        y = rng.integers(0, 2, n)
        pred = np.where(rng.random(n) < 0.8, y, 1 - y)  # 80 % correct
        stat = classification_metrics(y, pred, 2)
        value = stat(np.arange(n))["accuracy"]
        low, high = bootstrap(stat, n, rounds=300)["accuracy"]
        assert low <= value <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # ~ 1/sqrt(n)
    assert bootstrap(stat, 0) == {}


def test_change_intervals_resample_pairs_and_seed_interval():
    pairs = [BinaryCounts(10, 0, 0, 90), BinaryCounts(0, 5, 5, 90), BinaryCounts(5, 5, 0, 90)]
    stat = change_metrics(pairs)
    assert stat(np.arange(3))["f1"] == pytest.approx((2 * 15) / (2 * 15 + 10 + 5))
    low, high = bootstrap(stat, 3, rounds=200)["f1"]
    assert 0 <= low < high <= 1  # some resamples hold only the second pair (F1 0)
    mean, lo, hi = seed_interval([0.5, 0.6, 0.7], rounds=200)
    assert mean == pytest.approx(0.6) and 0.5 <= lo < mean < hi <= 0.7


def test_seed_rows_summarise_runs_of_one_configuration(tmp_path):
    base = {"task": "t", "protocol": "linear", "setting": "default", "metric": "accuracy"}
    base |= {"ci_low": 0.0, "ci_high": 1.0, "runs": 1, "n_train": 6, "n_val": 2, "n_test": 2}
    rows = [
        base | {"encoder": "seco-resnet18-seed0", "group": "seco-resnet18", "value": 0.5},
        base | {"encoder": "seco-resnet18-seed1", "group": "seco-resnet18", "value": 0.7},
        base | {"encoder": "random-resnet18", "group": "random-resnet18", "value": 0.3},
    ]
    extra = seed_rows(rows, rounds=100)
    assert len(extra) == 1 and extra[0]["encoder"] == "seco-resnet18 (mean of 2 runs)"
    assert extra[0]["value"] == pytest.approx(0.6) and extra[0]["runs"] == 2
    write_results([{k: v for k, v in r.items() if k != "group"} for r in rows + extra], tmp_path)
    md = (tmp_path / "results.md").read_text()
    assert "default protocol (n: train 6, val 2, test 2)" in md
    assert "| seco-resnet18 (mean of 2 runs) | 2 | 0.6000 [0.5000, 0.7000] |" in md
    assert (tmp_path / "results.png").stat().st_size > 0


def test_plot_folds_only_the_runs_a_mean_row_stands_for():
    names = [
        "moco-resnet18-seed0", "moco-resnet18-seed1", "moco-resnet18 (mean of 2 runs)",
        "moco_tp-resnet18-seed0", "moco_tp-resnet18-seed1", "random-resnet18",
    ]  # fmt: skip
    assert _averaged_runs(names) == {"moco-resnet18-seed0", "moco-resnet18-seed1"}
    assert _averaged_runs(["a-run1", "a-run2", "a (mean of 2 runs)"]) == {"a-run1", "a-run2"}


def test_old_results_without_intervals_are_still_read(tmp_path):
    old = pd.DataFrame(
        [{"encoder": "a", "task": "t", "protocol": "knn", "metric": "accuracy", "value": 0.4,
          "n_train": 1, "n_val": 1, "n_test": 1}]
    )  # fmt: skip
    old.to_csv(tmp_path / "results.csv", index=False)
    df = write_results([], tmp_path)
    assert (
        df.setting.tolist() == ["default"]
        and "| a | 1 | 0.4000 |" in (tmp_path / "results.md").read_text()
    )


def test_head_learns_separable_features():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(1200, 8)) * 4).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    logits = train_head(x[:1000], y[:1000], x[1000:], 2, False, epochs=5, lr=1e-2)
    assert (logits.argmax(1) == y[1000:]).mean() > 0.9
    multi = np.stack([x[:, 0] > 0, x[:, 1] > 0], 1)
    logits = train_head(x[:1000], multi[:1000], x[1000:], 2, True, epochs=5, dropout=0.2, lr=1e-2)
    assert ((logits > 0) == multi[1000:]).mean() > 0.85


def _evaluate(task, data, out, *extra):
    argv = ["evaluate", "--task", task, "--data", str(data), "--encoder", "random"]
    return main([*argv, "--out", str(out), "--bootstrap", "50", *extra])


def test_paper_protocol_on_each_task(tmp_path):
    eurosat = make_eurosat(tmp_path / "eurosat", per_class=5, classes=2, size=64)
    assert (
        _evaluate("eurosat", eurosat, tmp_path / "o", "--protocol", "paper", "--epochs", "2") == 0
    )
    reben = tmp_path / "reben"
    make_bigearthnet_v2(reben, n=8)
    assert (
        _evaluate("bigearthnet", reben, tmp_path / "o", "--protocol", "paper", "--epochs", "1") == 0
    )
    oscd = make_oscd(tmp_path / "oscd", cities=tuple("abcd"), train=("a", "b", "c"), test=("d",))
    args = ("--protocol", "paper", "--epochs", "1", "--val-cities", "1")
    assert _evaluate("oscd", oscd, tmp_path / "o", *args) == 0
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert set(df.setting) == {"paper"}
    assert set(zip(df.task, df.protocol, strict=True)) == {
        ("eurosat", "linear"),
        ("bigearthnet", "linear-multilabel"),
        ("oscd", "change"),
    }
    acc = df[(df.task == "eurosat") & (df.metric == "accuracy")].iloc[0]
    assert acc.ci_low <= acc.value <= acc.ci_high and acc.n_test == 2
    assert df[(df.task == "oscd") & (df.metric == "threshold")].value.tolist() == [0.5]
    md = (tmp_path / "o" / "results.md").read_text()
    assert "eurosat — linear, paper protocol (n: train 6, val 2, test 2)" in md


def test_uint8_pairs_scale_each_band_of_each_image(tmp_path):
    oscd = make_oscd(tmp_path / "oscd")
    view = Uint8Pairs(OSCD(oscd, bands="rgb", splits_file=tmp_path / "s.json", val_cities=1))
    a, b, mask = view.pair(0)
    assert a.dtype == np.uint16 and a.max() <= 255 and mask.dtype == bool


def test_oscd_takes_cities_from_the_label_folders_without_split_lists(tmp_path):
    root = make_oscd(
        tmp_path / "oscd", cities=tuple("abcdef"), train=tuple("abcd"), test=("e", "f")
    )
    images = root / "Onera Satellite Change Detection dataset - Images"
    (images / "train.txt").unlink()
    (images / "test.txt").unlink()
    ds = OSCD(root, bands="rgb", splits_file=tmp_path / "s.json", val_cities=1)
    names = {s: {ds.name(int(i)) for i in ds.indices(s)} for s in ("train", "val", "test")}
    assert names["test"] == {"e", "f"} and names["train"] | names["val"] == set("abcd")
    assert len(names["val"]) == 1
    shutil.rmtree(root / "Onera Satellite Change Detection dataset - Test Labels")
    with pytest.raises(FileNotFoundError, match="test cities"):
        OSCD(root, bands="rgb", splits_file=tmp_path / "t.json")


def test_empty_split_is_one_line(tmp_path, capsys):
    eurosat = make_eurosat(tmp_path / "eurosat", per_class=3, classes=2, size=16)
    stems = sorted(p.stem for p in eurosat.rglob("*.tif"))
    (eurosat / "eurosat-train.txt").write_text("\n".join(f"{s}.jpg" for s in stems) + "\n")
    (eurosat / "eurosat-val.txt").write_text("")
    (eurosat / "eurosat-test.txt").write_text("")
    assert len(EuroSAT(eurosat, bands="rgb").indices("train")) == 6
    assert _evaluate("eurosat", eurosat, tmp_path / "o", "--size", "16") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "the test split" in err and "is empty" in err


def test_paper_table_runs_every_task_found_and_prints_the_published_figures(tmp_path, capsys):
    from trainer.evaluate.paper_table import main as table

    root = tmp_path / "data"
    make_eurosat(root / "EuroSAT_MS", per_class=5, classes=2, size=64)
    make_oscd(root / "OSCD", cities=tuple("abcdef"), train=tuple("abcde"), test=("f",))
    out = tmp_path / "table"
    argv = ["--data-root", str(root), "--encoder", "random", "--out", str(out)]
    argv += ["--settings", "paper", "--epochs", "1", "--bootstrap", "20"]
    assert table(argv) == 0
    md = (out / "paper-table.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| random-resnet18 | paper |"))
    eurosat, ben, oscd = (c.strip() for c in row.split("|")[3:6])
    assert "[" in eurosat and ben == "–" and "[" in oscd
    assert "| SeCo resnet18 (published) | paper | 93.14 | 87.27 | 46.94 |" in md
    assert "| SeCo resnet50 (published) | paper | – | 87.81 | – |" in md
    assert "bigearthnet: not run (no BigEarthNet" in md and (out / "paper-table.png").is_file()
    capsys.readouterr()  # the run's progress lines
    assert table(["--data-root", str(tmp_path / "none"), "--encoder", "random"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
