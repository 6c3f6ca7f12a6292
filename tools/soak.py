"""Soak test (not in CI): a long synthetic collection killed again and again, then compared.

``python -m tools.soak --n 2000 --kills 20`` collects once without interruption, then
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

from shared.layout.array_names import shard_arrays
from shared.store.handle import open_store
from tools.record import add_record_flag, record, set_recording


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
        "--spares",
        "3",  # permanent faults must never leave a slot waiting for a retry (exit 1)
        "--backoff",
        "0",
        "--out",
        str(out),
    ]


def _digest(out: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    store = open_store(out)
    names = shard_arrays(store.spec, store.layout_version)
    arrays = {n: np.asarray(store.array(n)[:]) for n in names}
    files = {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for name in (*(n for n in names if n.startswith("pixels")), "cloud")
        for p in sorted((out / name).rglob("*"))
        if p.is_file()
    }
    return arrays, files


def _done_shards(location: Path) -> int:
    """Shards marked done in the store at ``location`` (0 while it does not exist yet)."""
    try:
        store = open_store(location)
        return store.spec.n_shards - len(store.pending_shards())
    except Exception:  # not created yet, or caught mid-creation
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default="datasets/soak")
    add_record_flag(parser)
    args = parser.parse_args()
    set_recording(args.record)
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
    n_shards = open_store(ref).spec.n_shards
    # about half a share of the shards per attempt, so the kills spread over the whole run
    # and the last ones land late, in the final shards or in finalize
    step = max(1, n_shards // max(args.kills, 1) - 1)
    for k in range(args.kills):
        before = _done_shards(soak)
        proc = subprocess.Popen(
            _cmd(args, soak),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # kill at a random moment once this attempt has made random progress (sometimes none:
        # then in start-up): mid-task, mid-shard-write or mid-finalize
        target = before + rng.randint(0, step)
        t = time.perf_counter()
        while proc.poll() is None and _done_shards(soak) < target:
            time.sleep(0.1)
        time.sleep(rng.uniform(0.0, 2.0))
        if proc.poll() is not None:
            print(f"attempt {k + 1:2d} finished before its kill")
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        done = _done_shards(soak)
        done_at_kill.append(done)
        print(
            f"kill {k + 1:2d} after {time.perf_counter() - t:4.1f} s: {done}/{n_shards} shards done"
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
        f"python -m tools.soak --n {args.n} --kills {args.kills} --size {args.size}",
        {
            "soak_locations": args.n,
            "soak_kills": args.kills,
            "soak_identical": bool(same_arrays and same_files and same_stats),
        },
        [
            ("locations, uninterrupted reference run", f"{args.n:,} in {ref_seconds:.0f} s"),
            (
                "SIGKILLs of the whole process group, each after random progress",
                str(landed),
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
