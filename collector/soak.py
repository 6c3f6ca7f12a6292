"""Soak test (not in CI): a long synthetic collection killed again and again, then compared.

``python -m collector.soak --n 2000 --kills 20`` collects once without interruption, then
collects the same configuration into a second store while SIGKILLing the whole process group
(client, scheduler, workers) at random moments ``--kills`` times, resuming after each, and
finally compares the two stores array by array and shard file by shard file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from shared.benchmarks import record
from shared.layout import SHARD_ARRAYS
from shared.store import open_store


def _cmd(args: argparse.Namespace, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "collector",
        "collect",
        "--region=europe",
        "--n",
        str(args.n),
        "--seed",
        str(args.seed),
        "--source",
        "synthetic",
        "--size",
        str(args.size),
        "--no-progress",
        "--faults",
        f"transient=0.1,permanent=0.02,seed={args.seed}",
        "--backoff",
        "0",
        "--out",
        str(out),
    ]


def _digest(out: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    store = open_store(out)
    arrays = {n: np.asarray(store.array(n)[:]) for n in SHARD_ARRAYS}
    files = {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for name in ("pixels", "cloud")
        for p in sorted((out / name).rglob("*"))
        if p.is_file()
    }
    return arrays, files


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.soak", description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default="datasets/soak")
    args = parser.parse_args()
    root = Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    ref, soak = root / "reference.zarr", root / "killed.zarr"
    t = time.perf_counter()
    subprocess.run(_cmd(args, ref), check=True, stdout=subprocess.DEVNULL)
    ref_seconds = time.perf_counter() - t
    print(f"reference: {args.n} locations in {ref_seconds:.0f} s")
    rng = random.Random(args.seed)
    done_at_kill = []
    for k in range(args.kills):
        proc = subprocess.Popen(
            _cmd(args, soak),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        delay = rng.uniform(2.0, max(3.0, ref_seconds / (args.kills / 2)))
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        try:
            store = open_store(soak)
            done = store.spec.n_shards - len(store.pending_shards())
            done_at_kill.append(done)
            print(f"kill {k + 1:2d} after {delay:4.1f} s: {done}/{store.spec.n_shards} shards done")
        except Exception as e:  # killed before the store existed, or mid-creation
            print(
                f"kill {k + 1:2d} after {delay:4.1f} s: no complete store yet ({type(e).__name__})"
            )
    final = subprocess.run(_cmd(args, soak), capture_output=True, text=True)
    if final.returncode != 0:
        print(final.stderr)
        return 1
    a_arrays, a_files = _digest(ref)
    b_arrays, b_files = _digest(soak)
    same_arrays = all(
        np.array_equal(a_arrays[n], b_arrays[n], equal_nan=a_arrays[n].dtype.kind == "f")
        for n in a_arrays
    )
    same_files = a_files == b_files
    same_stats = open_store(ref).attrs.get("stats") == open_store(soak).attrs.get("stats")
    print(
        f"arrays identical: {same_arrays}; shard files identical: {same_files} ({len(a_files)} files); "
        f"stats identical: {same_stats}"
    )
    landed = len(done_at_kill)
    record(
        "collector_soak",
        "Soak: a collection SIGKILLed again and again, resumed, compared",
        f"python -m collector.soak --n {args.n} --kills {args.kills} --size {args.size}",
        {
            "soak_locations": args.n,
            "soak_kills": args.kills,
            "soak_identical": bool(same_arrays and same_files and same_stats),
        },
        [
            ("locations, uninterrupted reference run", f"{args.n:,} in {ref_seconds:.0f} s"),
            (
                "SIGKILLs of the whole process group",
                f"{args.kills} ({landed} after the store existed)",
            ),
            ("arrays identical to the reference", str(same_arrays)),
            ("shard files byte-identical", f"{same_files} ({len(a_files)} files)"),
            ("statistics identical", str(same_stats)),
        ],
        "Synthetic source, Europe, 4 seasons × 13 bands; each kill lands at a random moment "
        "(client, scheduler and workers together), then the same command resumes.",
    )
    return 0 if same_arrays and same_files and same_stats else 1


if __name__ == "__main__":
    sys.exit(main())
