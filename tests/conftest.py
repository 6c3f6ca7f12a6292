"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str, env: dict[str, str] | None = None, timeout: int = 300):
    """Run ``python -m …`` in a subprocess from the repository root; returns the completed process."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def tiny_store(tmp_path):
    """A complete 10-sample store: 4 seasons, 13 bands, 16 px, shards of 4."""
    from shared.testing import make_store

    return make_store(tmp_path / "tiny.zarr", n_samples=10)


def set_root_attr(store_location, key: str, value) -> None:
    """Edit one root attribute of a store on disk, behind zarr's back (to plant faults)."""
    import json

    meta_path = Path(store_location) / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"][key] = value
    meta_path.write_text(json.dumps(meta))
