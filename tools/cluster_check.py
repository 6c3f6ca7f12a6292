"""``python -m tools.cluster_check``: a real Dask cluster started from the command line, one
worker SIGKILLed mid-run, still gives a store byte-identical to a local run.

1. ``collect`` the synthetic world locally (an in-process cluster) → the reference store.
2. Start ``dask scheduler --port 0 --scheduler-file F`` and two ``dask worker
   --scheduler-file F`` processes, exactly as on a cluster.
3. ``collect`` the same command with ``--scheduler <address from F>`` and an absolute
   ``--out``; once some shards are done, SIGKILL one worker. Dask moves its tasks to the
   other worker (a task on the killed worker is rerun whole: shards are written whole,
   done-marker last); if the run still ends with failed tasks, the same command is run again
   to resume.
4. Compare every object of the two stores except those that carry timings or run details
   (``reports/``, ``report.json``, the lock, the pictures) by sha256.

Prints one JSON line; exits 0 when the stores are identical. Scratch files go to ``--tmp``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "store_digest"]

SKIP = ("reports/", "report.json", "collect.lock", "map.png", "preview.png")


def store_digest(root: Path) -> dict[str, str]:
    """sha256 of every object that must be byte-identical between two runs."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not str(p.relative_to(root)).startswith(SKIP)
    }


def _collect_argv(out: Path, n: int, scheduler: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "collector",
        "collect",
        "--n",
        str(n),
        "--region=europe",
        "--source",
        "synthetic",
        "--size",
        "32",
        "--shard-samples",
        "2",
        "--faults",
        "latency=0.2",  # slow enough to kill a worker mid-run; the data do not depend on it
        "--backoff",
        "0",
        "--no-progress",
        "--scheduler",
        scheduler,
        "--out",
        str(out),
    ]


def _wait_for(path: Path, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > end:
            raise TimeoutError(f"{path} did not appear within {seconds:.0f} s")
        time.sleep(0.2)


def _done(store: Path) -> int:
    folder = store / "shard_done" / "c"
    return len(os.listdir(folder)) if folder.is_dir() else 0


def check(n: int, tmp: Path) -> dict[str, Any]:
    """Run the whole check in ``tmp``; returns its figures and outcome."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
    }
    ref, out = tmp / "local" / "s.zarr", tmp / "cluster" / "s.zarr"  # one name: the STAC id
    t = time.perf_counter()
    subprocess.run(_collect_argv(ref, n, "threads"), env=env, check=True, capture_output=True)
    figures: dict[str, Any] = {"locations": n, "local_s": round(time.perf_counter() - t, 1)}
    dask = [sys.executable, "-m", "dask"]  # the ``dask`` command line, as on a cluster
    scheduler_file = tmp / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []
    logs = open(tmp / "cluster.log", "wb")  # noqa: SIM115 (closed below)
    try:
        procs.append(
            subprocess.Popen(
                [
                    *dask,
                    "scheduler",
                    "--port",
                    "0",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--host",
                    "127.0.0.1",
                ],
                env=env,
                stdout=logs,
                stderr=logs,
            )
        )
        _wait_for(scheduler_file, 60)
        address = json.loads(scheduler_file.read_text())["address"]
        for name in ("a", "b"):
            procs.append(
                subprocess.Popen(
                    [
                        *dask,
                        "worker",
                        "--scheduler-file",
                        str(scheduler_file),
                        "--nthreads",
                        "1",
                        "--name",
                        name,
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                    ],
                    env=env,
                    stdout=logs,
                    stderr=logs,
                )
            )
        t = time.perf_counter()
        run = subprocess.Popen(_collect_argv(out, n, address), env=env, stdout=logs, stderr=logs)
        killed_at = None
        while run.poll() is None:
            done = _done(out)
            if killed_at is None and done >= 2:
                procs[1].send_signal(signal.SIGKILL)  # worker "a", mid-run
                killed_at = done
            time.sleep(0.1)
        figures["first_run_exit"] = run.returncode
        figures["killed_after_shards"] = killed_at
        figures["shards"] = len(os.listdir(out / "manifests")) - 1 if out.exists() else 0
        if run.returncode != 0:  # tasks lost with the worker: the same command resumes
            rerun = subprocess.run(_collect_argv(out, n, address), env=env, capture_output=True)
            figures["resume_exit"] = rerun.returncode
        figures["cluster_s"] = round(time.perf_counter() - t, 1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()
    a, b = store_digest(ref), store_digest(out)
    differing = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    figures["objects_compared"] = len(a)
    figures["identical"] = not differing and killed_at is not None
    if differing:
        figures["first_differences"] = differing[:5]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cluster_check", description=__doc__)
    parser.add_argument("--n", type=int, default=48, help="locations (default 48)")
    parser.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="cluster-check-") as tmp:
        figures = check(args.n, Path(tmp))
    print(json.dumps(figures))
    return 0 if figures["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
