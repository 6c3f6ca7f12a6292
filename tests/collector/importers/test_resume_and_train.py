"""A SIGKILLed import, rerun, equals an uninterrupted one; the trainer and evaluation run on
every import unchanged."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from collector.importers.testing import write_geotiff_dataset
from shared.checks.verify import verify
from shared.layout.array_names import shard_arrays
from shared.store.handle import open_store
from tests.collector.importers.conftest import import_args
from tests.conftest import ROOT, run_module


def _digest(values: np.ndarray) -> str:
    raw = "\n".join(map(str, values.ravel())).encode() if values.dtype.kind in "OTU" else values
    return hashlib.sha256(raw).hexdigest()


def _content(out: Path) -> dict[str, object]:
    store = open_store(out)
    names = shard_arrays(store.spec, store.layout_version)
    arrays = {name: _digest(np.asarray(store.array(name)[:])) for name in names}
    files = {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for name in (
            "pixels_10m",
            "pixels_20m",
            "pixels_60m",
            "cloud",
            "inventory.parquet",
            "index.parquet",
        )
        for p in sorted([out / name, *(out / name).rglob("*")])
        if p.is_file()
    }
    attrs = {k: v for k, v in store.attrs.items() if k != "collection_report"}
    return {"arrays": arrays, "files": files, "attrs": attrs}


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path):
    data = write_geotiff_dataset(tmp_path / "s2c", "ssl4eo", 9, level="L1C")
    ref = tmp_path / "ref.zarr"
    args = import_args("ssl4eo-s12", data, ref, "--limit", "8")
    args[args.index("--workers") + 1] = "1"
    assert run_module("collector", *args).returncode == 0
    crash = tmp_path / "crash.zarr"
    args[args.index("--out") + 1] = str(crash)
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len(list((crash / "reports").glob("*.json"))) >= 2:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    pending = open_store(crash).pending_shards()
    assert pending, "the kill came after the import had finished"
    assert not (crash / "report.json").exists()
    rerun = run_module("collector", *args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(pending)} shard(s) to do" in rerun.stdout
    assert verify(crash).ok
    a, b = _content(crash), _content(ref)
    for key in a:
        assert a[key] == b[key], key


@pytest.mark.parametrize("fmt", ["seco", "ssl4eo-s12", "ssl4eo-s12-zarr"])
def test_two_pretrain_steps_on_an_imported_store(imported, tmp_path, fmt):
    from tests.trainer.conftest import tiny_args
    from trainer.checkpoint import load_checkpoint
    from trainer.cli import main as trainer

    out = tmp_path / "run"
    args = tiny_args(str(imported[fmt]), out, "--steps", "2", "--batch", "4", "--queue", "8")
    assert trainer(args) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 2
    scaling = state["scaling"]
    stats = open_store(imported[fmt]).attrs["stats"]
    for band, p2, p98 in zip(scaling["bands"], scaling["p2"], scaling["p98"], strict=True):
        i = stats["bands"].index(band)
        assert (p2, p98) == (stats["p2"][i], stats["p98"][i])  # scaled by the store's own stats
    if fmt == "seco":  # the encoder evaluates unchanged, with the scaling it travels with
        import pandas as pd

        from tests.trainer.evaluate.fixtures import make_eurosat

        eurosat = make_eurosat(tmp_path / "eurosat", per_class=6, classes=2, size=32)
        argv = ["evaluate", "--task", "eurosat", "--data", str(eurosat), "--size", "32"]
        argv += ["--encoder", str(out / "checkpoint.pt"), "--out", str(tmp_path / "e")]
        assert trainer(argv) == 0
        results = pd.read_csv(tmp_path / "e" / "results.csv")
        assert set(results.protocol) == {"linear", "knn"}
