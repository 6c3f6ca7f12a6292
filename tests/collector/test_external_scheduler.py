"""A relative ``--out`` with an external Dask scheduler whose workers run in another folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from collector.cli import main
from shared.checks.verify import verify
from tests.conftest import ROOT, free_port

CLUSTER = """
import sys
from distributed import LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                       scheduler_port=int(sys.argv[1]), dashboard_address=None)
print("ready", flush=True)
sys.stdin.read()  # until the test closes it
cluster.close()
"""


def test_relative_out_reaches_remote_workers_as_an_absolute_path(tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "workers"  # the workers' working directory
    elsewhere.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CLUSTER, str(port)],
        cwd=elsewhere,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        here = tmp_path / "client"
        here.mkdir()
        monkeypatch.chdir(here)
        argv = [
            *("collect", "--region=europe", "--n", "8", "--source", "synthetic"),
            *("--size", "24", "--shard-samples", "4", "--no-progress"),
            *("--scheduler", f"tcp://127.0.0.1:{port}", "--out", "rel.zarr"),
        ]
        start = time.perf_counter()
        assert main(argv) == 0, capsys.readouterr().err
        assert time.perf_counter() - start < 300
        assert verify(here / "rel.zarr").ok
        assert not (elsewhere / "rel.zarr").exists()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
