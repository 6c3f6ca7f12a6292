"""The collection engine end to end on the synthetic world (tiny patches, in-process cluster)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from collector.cli import main
from shared.checks.verify import verify
from shared.store.handle import open_store
from tests.conftest import SMALL

BASE = [*SMALL, "--source", "synthetic", *("--scheduler", "threads", "--workers", "2")]


def collect(out, *extra, n=16, capsys=None):
    code = main(["collect", "--n", str(n), *BASE, *extra, "--out", str(out)])
    return code


def tree_digest(root: Path, prefix: str = "") -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and str(p.relative_to(root)).startswith(prefix)
    }


def test_collect_then_rerun_is_a_no_op(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert collect(out) == 0
    text = capsys.readouterr().out
    assert "creating" in text and "done: 16 of 16 slots filled" in text
    assert verify(out).ok
    store = open_store(out)
    assert store.synthetic and store.source == "synthetic" and "stats" in store.attrs
    for name in ("plan.parquet", "index.parquet", "map.png", "preview.png", "report.json"):
        assert (out / name).is_file(), name
    before = {g: tree_digest(out, f"pixels_{g}") for g in ("10m", "20m", "60m")}
    assert collect(out) == 0
    assert "0 shard(s) to do" in capsys.readouterr().out
    assert {g: tree_digest(out, f"pixels_{g}") for g in ("10m", "20m", "60m")} == before


def test_faults_are_retried_replaced_and_reported(tmp_path, capsys):
    out = tmp_path / "f.zarr"
    code = collect(out, "--faults", "transient=0.3,permanent=0.05,seed=3", "--spares", "3", n=32)
    assert code == 0
    store = open_store(out)
    assert verify(out).ok
    report = json.loads((out / "report.json").read_text())["summary"]
    assert report["filled"] == report["slots"] == 32  # nothing lost
    assert report["retries"] > 10 and report["transient_errors"] >= report["retries"]
    assert report["failed"] >= 1  # some permanent failures happened …
    failed = {
        r["candidate_id"]
        for shard in json.loads((out / "report.json").read_text())["shards"]
        for r in shard["rejected"]
        if r["outcome"] == "failed"
    }
    stored = set(np.asarray(store.array("candidate_id")[:]).tolist())
    assert not failed & stored  # … and every one was replaced by another candidate
    assert np.asarray(store.array("valid")[:]).all()


def test_in_flight_bound_is_never_exceeded(tmp_path, monkeypatch):
    import collector.run.jobs as jobs

    state = {"now": 0, "max": 0, "calls": 0}
    lock = threading.Lock()
    real_source = jobs._source

    class Recording:
        def __init__(self, inner):
            self.inner = inner
            self.name, self.synthetic = inner.name, inner.synthetic
            self.collection, self.bands = inner.collection, inner.bands

        def _call(self, fn, *args):
            with lock:
                state["now"] += 1
                state["calls"] += 1
                state["max"] = max(state["max"], state["now"])
            try:
                time.sleep(0.01)
                return fn(*args)
            finally:
                with lock:
                    state["now"] -= 1

        def search(self, loc):
            return self._call(self.inner.search, loc)

        def fetch(self, loc, scenes):
            return self._call(self.inner.fetch, loc, scenes)

    monkeypatch.setattr(jobs, "_source", lambda job: Recording(real_source(job)))
    code = collect(tmp_path / "b.zarr", "--max-in-flight", "3", "--concurrency", "4", n=32)
    assert code == 0
    assert state["calls"] > 60
    assert state["max"] == 3  # reached, never exceeded (2 workers × 4 threads could do 8)


def test_second_in_process_cluster_gets_its_own_in_flight_bound(tmp_path):
    # the request bound of the first run's cluster dies with it; the second run must not
    # reuse it ("IOLoop is closed" on every task)
    for name in ("first.zarr", "second.zarr"):
        assert collect(tmp_path / name, "--max-in-flight", "2") == 0
        assert verify(str(tmp_path / name)).ok


@pytest.mark.parametrize(
    "args,message,code",
    [
        (["--source", "landsat"], "source: expected one of", 2),
        (["--n", "0"], "n: expected an integer in [1, ", 2),
        (["--bands", "l3x"], "l1c or l2a", 2),
        (["--clear-threshold", "1.5"], "clear_threshold: expected a number in (0, 1]", 2),
        (["--faults", "bogus=1"], "--faults item", 2),
    ],
)
def test_bad_inputs_one_line(tmp_path, capsys, args, message, code):
    argv = ["collect", "--n", "8", *BASE, "--out", str(tmp_path / "x.zarr")]
    for i in range(0, len(args), 2):  # later flags override earlier ones in argparse
        argv += args[i : i + 2]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.zarr").exists()


def test_unwritable_out(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert collect(tmp_path / "file" / "s.zarr") == 2
    err = capsys.readouterr().err
    assert "is a file" in err and len(err.strip().splitlines()) == 1


def test_other_config_is_refused_and_store_untouched(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert collect(out, n=8) == 0
    before = tree_digest(out)
    capsys.readouterr()
    assert collect(out, "--seasons", "3", "--window-days", "10", n=8) == 2
    err = capsys.readouterr().err
    assert "holds another collection" in err and "seasons" in err
    assert len(err.strip().splitlines()) == 1
    assert tree_digest(out) == before


def test_missing_earthengine_credentials(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("HOME", str(tmp_path))  # no persistent earthengine credentials
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    argv = [
        "collect",
        "--n",
        "8",
        "--region=europe",
        "--no-progress",
        "--out",
        str(tmp_path / "e.zarr"),
    ]
    assert main(argv) == 1  # the default source is Earth Engine
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "EE_SERVICE_ACCOUNT_KEY" in err and "earthengine authenticate" in err
    assert "SOURCE=synthetic" in err
    assert not (tmp_path / "e.zarr").exists()


def test_truth_store_keeps_the_synthetic_land_cover(tmp_path):
    from collector.plan.candidates import read_plan
    from collector.run.ledger import Ledger
    from collector.sources.synthetic import LANDCOVER_CLASSES, SyntheticSource
    from shared.store.reader import StoreReader

    out = tmp_path / "t.zarr"
    assert collect(out, "--truth", n=12) == 0
    store = open_store(out)
    assert store.spec.truth_classes == tuple(LANDCOVER_CLASSES) and verify(out).ok
    reader = StoreReader(store)
    cover = reader.landcover(np.arange(12))
    plan, _ = read_plan(out / "plan.parquet")
    ledger = Ledger(store, plan, created=False)
    source = SyntheticSource()
    times = np.asarray(store.array("time")[:]).astype("datetime64[ms]")
    ids = np.asarray(store.array("candidate_id")[:])
    valid = np.flatnonzero(np.asarray(store.array("valid")[:]))
    for sample in valid[[0, len(valid) // 2, -1]]:
        cand = next(
            c for c in ledger.candidates(int(sample) // 4) if c.location.candidate_id == ids[sample]
        )
        for season in range(4):
            expect = source.landcover(cand.location, times[sample, season])
            np.testing.assert_array_equal(cover[sample, season], expect)


def test_truth_needs_the_synthetic_source(tmp_path, capsys):
    argv = [
        "collect",
        "--n",
        "4",
        "--region=europe",
        "--source",
        "earthengine",
        "--truth",
        "--out",
        str(tmp_path / "x"),
    ]
    assert main(argv) == 2
    assert "--truth needs SOURCE=synthetic" in capsys.readouterr().err
