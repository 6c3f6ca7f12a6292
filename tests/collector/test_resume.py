"""Crash and resume: a collection SIGKILLed at random moments, rerun, equals an uninterrupted one."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from shared.checks.verify import verify
from shared.layout.array_names import shard_arrays
from shared.store.handle import open_store
from tests.conftest import ROOT, SMALL

ARGS = [
    *SMALL,
    *("--n", "40", "--seed", "5", "--source", "synthetic", "--workers", "2"),
    "--faults",
    "latency=0.02,transient=0.2,permanent=0.03,seed=9",
    "--spares",
    "3",  # enough spares that no slot stays empty after the permanent faults (it would wait)
]


def run(out: Path, kill_after: float | None = None) -> subprocess.CompletedProcess | None:
    cmd = [sys.executable, "-m", "collector", "collect", *ARGS, "--out", str(out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if kill_after is None:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    time.sleep(kill_after)
    os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler and every worker, at once
    proc.wait()
    return None


def content(out: Path) -> dict[str, object]:
    """What must be identical: every per-sample array, the image shard bytes, the statistics."""
    store = open_store(out)
    names = shard_arrays(store.spec, store.layout_version)
    arrays = {name: np.asarray(store.array(name)[:]) for name in names}
    files = {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for name in ("pixels_10m", "pixels_20m", "pixels_60m", "cloud")
        for p in sorted((out / name).rglob("*"))
        if p.is_file()
    }
    return {"arrays": arrays, "files": files, "stats": store.attrs.get("stats")}


def assert_same(a: dict, b: dict) -> None:
    for name, arr in a["arrays"].items():
        np.testing.assert_array_equal(arr, b["arrays"][name], err_msg=name)
    assert a["files"] == b["files"]
    assert a["stats"] == b["stats"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    start = time.perf_counter()
    proc = run(out)
    assert proc is not None and proc.returncode == 0, proc.stderr
    return out, time.perf_counter() - start, content(out)


@pytest.mark.parametrize("trial", range(3))
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, reference, trial):
    ref_out, ref_seconds, ref_content = reference
    rng = random.Random(1000 + trial)
    out = tmp_path / "crash.zarr"
    kill_at = rng.uniform(0.25, 0.95) * ref_seconds
    run(out, kill_after=kill_at)
    proc = run(out)
    assert proc is not None and proc.returncode == 0, proc.stderr
    assert verify(out).ok
    assert_same(ref_content, content(out))


def test_interrupted_creation_is_redone(tmp_path, reference):
    out = tmp_path / "half.zarr"
    group = zarr.open_group(out, mode="w", attributes={"creating": True})
    group.create_array("pixels", shape=(1,), dtype="uint8")  # as if killed mid-creation
    proc = run(out)
    assert proc is not None and proc.returncode == 0, proc.stderr
    assert_same(reference[2], content(out))


def test_temporaries_of_killed_writes_are_removed(tmp_path, reference):
    import shutil

    out = tmp_path / "left.zarr"
    shutil.copytree(reference[0], out)
    # what a write SIGKILLed between zarr's temporary file and its rename leaves behind
    leftover = out / "pixels_20m" / "c" / "3" / "0" / "0" / "0" / "0.5f0e9c.partial"
    leftover.write_bytes(b"half a shard")
    proc = run(out)
    assert proc is not None and proc.returncode == 0, proc.stderr
    assert "removed 1 temporary file(s) of writes killed in an earlier run" in proc.stdout
    assert not leftover.exists() and not list(out.rglob("*.partial"))
    assert_same(reference[2], content(out))
