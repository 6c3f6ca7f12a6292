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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tiny_store(tmp_path):
    """A complete 10-sample layout-3 store: 4 seasons, 13 bands, 24 px, shards of 4."""
    from shared.testing import make_store

    return make_store(tmp_path / "tiny.zarr", n_samples=10)


def store_with_stats(path, **kwargs) -> str:
    """A complete test store (:func:`shared.testing.make_store` with ``kwargs``) holding its
    band statistics, as a finished collection does; its location."""
    from shared.access.stats import compute_stats
    from shared.store.handle import open_store
    from shared.testing import make_store

    make_store(path, **kwargs)
    store = open_store(path, "r+")
    store.update_attrs(stats=compute_stats(store))
    return str(path)


def set_root_attr(store_location, key: str, value) -> None:
    """Edit one root attribute of a store on disk, behind zarr's back (to plant faults)."""
    import json

    meta_path = Path(store_location) / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"][key] = value
    meta_path.write_text(json.dumps(meta))


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto's server) on 127.0.0.1: yields fsspec storage options for it."""
    from shared.testing import start_moto

    proc, options = start_moto("testing")
    try:
        yield options
    finally:
        proc.terminate()
        proc.wait(timeout=10)


#: a small quiet collection over Europe: 36-px patches (13 bands: divisible by 6) in shards of
#: 4, no backoff between retries
SMALL = (
    "--region=europe",
    *("--size", "36", "--shard-samples", "4", "--no-progress", "--backoff", "0"),
)


def collected_store(tmp_path_factory, name: str, *args: str):
    """A finished in-process collection into a fresh temporary ``<name>.zarr`` (exit 0 checked)."""
    from collector.cli import main

    out = tmp_path_factory.mktemp(name) / f"{name}.zarr"
    assert main(collect_args(out, *args)) == 0
    return out


def collect_args(out, *args: str) -> list[str]:
    """``collect`` arguments for a quiet in-process collection into ``out`` (2 worker threads)."""
    return [
        "collect",
        *args,
        *("--scheduler", "threads", "--workers", "2", "--no-progress"),
        *("--out", str(out)),
    ]
