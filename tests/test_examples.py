"""The runnable examples in examples/ run on a small store."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, store_with_stats


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("ex") / "ex.zarr"
    return store_with_stats(path, n_samples=12, size=36, shard_samples=4)


def run(*args):
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_xarray_and_ndvi_and_torch_examples(store, tmp_path):
    out = tmp_path / "seasons.png"
    proc = run("examples/xarray_seasons.py", store, "2", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    proc = run("examples/ndvi_seasons.py", store)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("median NDVI") == 4  # the store's dates span 4 calendar seasons
    assert all(f"  {s}: median NDVI" in proc.stdout for s in ("DJF", "MAM", "JJA", "SON"))
    assert "season 3:" in proc.stdout
    proc = run("examples/torch_dataset.py", store)
    assert proc.returncode == 0, proc.stderr
    assert "image (4, 2, 3, 36, 36)" in proc.stdout and "12 locations" in proc.stdout


def test_timm_encoder_example(store, tmp_path):
    from trainer.cli import main

    run_dir = tmp_path / "run"
    args = [
        "pretrain",
        "--store",
        store,
        "--out",
        str(run_dir),
        "--arch",
        "resnet18",
        "--size",
        "32",
        "--batch",
        "4",
        "--queue",
        "8",
        "--steps",
        "1",
        "--workers",
        "0",
        "--no-progress",
    ]
    assert main(args) == 0
    assert main(["export", str(run_dir / "checkpoint.pt"), "--out", str(tmp_path / "export")]) == 0
    proc = run("examples/timm_encoder.py", str(tmp_path / "export"), store)
    assert proc.returncode == 0, proc.stderr
    assert "features (4, 512)" in proc.stdout
