"""Every command that opens a store takes ``--storage-options`` (and the client's environment
variables); an object store that does not answer is one line. A real S3 API (moto's server)
on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest
import s3fs

from collector.cli import main as collector_main
from shared.cli import main as shared_main
from tests.conftest import collect_args, free_port, run_module
from tests.trainer.conftest import tiny_args
from trainer.cli import main as trainer_main

SECRET = "s3cr3t-never-shown"


@pytest.fixture(scope="module")
def s3_store(s3_server):
    """A finished 12-location store with ground truth in ``s3://options-test/truth.zarr``."""
    fs = s3fs.S3FileSystem(**s3_server)
    if not fs.exists("options-test"):
        fs.mkdir("options-test")
    url = "s3://options-test/truth.zarr"
    argv = collect_args(
        url,
        *("--region=europe", "--n", "12", "--source", "synthetic", "--truth"),
        *("--size", "48", "--shard-samples", "4", "--seasons", "4"),
        *("--storage-options", json.dumps(s3_server)),
    )
    assert collector_main(argv) == 0
    return url


@pytest.mark.parametrize(
    "command",
    [["verify", "--quick"], ["info", "--json"], ["card"], ["stac"], ["upgrade"]],
)
def test_shared_commands_take_storage_options(s3_store, s3_server, command, capsys):
    argv = [*command, s3_store, "--storage-options", json.dumps(s3_server)]
    assert shared_main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "testing" not in out  # the key and secret are never printed


def test_export_geotiff_from_object_storage(s3_store, s3_server, tmp_path, capsys):
    pytest.importorskip("rasterio")
    argv = ["export-geotiff", s3_store, "--samples", "0,3", "--out", str(tmp_path / "tif")]
    assert shared_main([*argv, "--storage-options", json.dumps(s3_server)]) == 0
    names = sorted(p.name for p in (tmp_path / "tif").glob("*.tif"))
    # 2 samples × 4 seasons, one file per resolution group of the 13-band layout-3 store
    assert len(names) == 2 * 4 * 3
    assert {n.rsplit("_", 1)[1] for n in names} == {"10m.tif", "20m.tif", "60m.tif"}


def test_environment_variables_are_the_default(s3_store, s3_server):
    env = {
        "AWS_ENDPOINT_URL": s3_server["client_kwargs"]["endpoint_url"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    done = run_module("shared", "info", "--json", s3_store, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["slots"] == 12


def test_unreachable_endpoint_is_one_line_on_every_command(tmp_path, capsys):
    dead = json.dumps(
        {
            "key": "k",
            "secret": SECRET,
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{free_port()}"},
        }
    )
    url = "s3://nowhere/x.zarr"
    calls = [
        (shared_main, ["verify", url]),
        (shared_main, ["info", url]),
        (collector_main, ["import", "seco", str(tmp_path), "--out", url]),
        (collector_main, ["plan", "--n", "4", "--region=europe", "--out", "s3://nowhere/plan"]),
        (trainer_main, tiny_args(url, tmp_path / "run")),
    ]
    for main, argv in calls:
        start = time.perf_counter()
        code = main([*argv, "--storage-options", dead])
        err = capsys.readouterr().err
        assert code in (1, 2), (argv, err)
        assert len(err.strip().splitlines()) == 1, err
        assert "cannot reach the object store" in err or "does not exist" in err, err
        assert SECRET not in err
        assert time.perf_counter() - start < 60  # not minutes of retries


def test_bad_storage_options_are_usage_errors_that_hide_the_value(capsys):
    for text in ['{"secret": "' + SECRET + '"', "[1, 2]", '{"": 1}']:
        assert shared_main(["info", "x.zarr", "--storage-options", text]) == 2
        err = capsys.readouterr().err
        assert "--storage-options" in err and SECRET not in err
        assert len(err.strip().splitlines()) == 1


def test_import_and_plan_into_object_storage(s3_server, tmp_path, capsys):
    from collector.importers.testing import write_geotiff_dataset

    fs = s3fs.S3FileSystem(**s3_server)
    fs.mkdir("import-test")
    data = write_geotiff_dataset(tmp_path / "seasonal_contrast_100k", "seco", 3)
    options = ["--storage-options", json.dumps(s3_server)]
    argv = ["import", "seco", str(data), "--out", "s3://import-test/seco.zarr", *options]
    argv += ["--scheduler", "threads", "--workers", "2", "--shard-samples", "2", "--no-progress"]
    assert collector_main(argv) == 0, capsys.readouterr().err
    assert shared_main(["verify", "s3://import-test/seco.zarr", *options]) == 0
    plan = ["plan", "--n", "8", "--region=europe", "--out", "s3://import-test/plan", *options]
    assert collector_main(plan) == 0, capsys.readouterr().err
    fs.invalidate_cache()
    assert {"plan.parquet", "map.png"} <= {p.rsplit("/", 1)[-1] for p in fs.ls("import-test/plan")}


def test_collect_continues_from_a_plan_in_object_storage(s3_server, monkeypatch, capsys):
    import collector.plan.candidates as candidates
    from collector.run import ledger

    fs = s3fs.S3FileSystem(**s3_server)
    fs.mkdir("plan-test")
    url = "s3://plan-test/eu"
    options = ["--storage-options", json.dumps(s3_server)]
    settings = ["--n", "6", "--region=europe", "--size", "36", "--shard-samples", "3"]
    assert collector_main(["plan", *settings, "--out", url, *options]) == 0
    planned = fs.cat(f"{url}/plan.parquet")

    def never(*_a, **_k):
        raise AssertionError("planned again instead of continuing from the plan")

    monkeypatch.setattr(candidates, "make_plan", never)
    monkeypatch.setattr(ledger, "make_plan", never)
    argv = collect_args(url, *settings, "--source", "synthetic", *options)
    assert collector_main(argv) == 0, capsys.readouterr().err
    fs.invalidate_cache()
    assert fs.cat(f"{url}/plan.parquet") == planned and fs.exists(f"{url}/zarr.json")
    # a plan made with other settings: refused in one line, the plan left as it was
    monkeypatch.undo()
    other = "s3://plan-test/other"
    assert collector_main(["plan", *settings, "--out", other, *options]) == 0
    before = fs.cat(f"{other}/plan.parquet")
    capsys.readouterr()
    argv = collect_args(other, "--n", "7", *settings[2:], "--source", "synthetic", *options)
    assert collector_main(argv) == 2
    assert "holds a plan made with other settings (differs in n;" in capsys.readouterr().err
    fs.invalidate_cache()
    assert fs.cat(f"{other}/plan.parquet") == before and not fs.exists(f"{other}/zarr.json")


def test_pretrain_and_evaluate_from_object_storage(s3_store, s3_server, tmp_path, capsys):
    from shared.store.handle import open_store

    options = ["--storage-options", json.dumps(s3_server)]
    assert "stats" in open_store(s3_store, storage_options=s3_server).attrs
    out = tmp_path / "run"
    assert trainer_main([*tiny_args(s3_store, out, "--steps", "2"), *options]) == 0
    assert "trained steps 0..2" in capsys.readouterr().out
    assert "testing" not in (out / "run.toml").read_text()  # options are runtime only
    argv = [
        *("evaluate", "--task", "synthetic-season", "--data", s3_store),
        *("--encoder", "random:resnet18", "--out", str(tmp_path / "eval")),
        *("--protocols", "knn", "--size", "32", "--bootstrap", "10", "--device", "cpu"),
        *options,
    ]
    assert trainer_main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "eval" / "results.md").is_file()


def test_a_deleted_object_in_object_storage_is_refused_from_per_array_listings(
    s3_server, monkeypatch
):
    from shared.access.view import open_dataset
    from shared.store.handle import Store, open_store
    from shared.store.manifests import DamagedShardError

    fs = s3fs.S3FileSystem(**s3_server)
    fs.mkdir("damage-test")
    url = "s3://damage-test/d.zarr"
    argv = collect_args(
        url,
        *("--region=europe", "--n", "6", "--source", "synthetic", "--size", "24"),
        *("--shard-samples", "2", "--storage-options", json.dumps(s3_server)),
    )
    assert collector_main(argv) == 0
    listed: list[list[str]] = []
    real = Store.list_many
    monkeypatch.setattr(Store, "list_many", lambda self, p: listed.append(p) or real(self, p))
    assert open_dataset(url, storage_options=s3_server).sizes["sample"] == 6
    prefixes = listed[-1]
    assert "pixels_10m/c/" in prefixes and "lon/c/" in prefixes and "" not in prefixes
    victim = next(k for k in fs.find("damage-test/d.zarr/pixels_10m/c/1"))
    fs.rm(victim)
    fs.invalidate_cache()
    with pytest.raises(DamagedShardError, match="shard 1: array 'pixels_10m'"):
        open_dataset(url, storage_options=s3_server)
    assert open_store(url, storage_options=s3_server).done_shards().all()
