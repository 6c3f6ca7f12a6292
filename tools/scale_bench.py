"""``python -m tools.scale_bench --locations N``: the engine's bookkeeping at N locations.

Builds a real world plan of N locations and a skeleton store of it (synthetic source, 8-px
patches, 4 seasons, RGB, shards of 16): every shard's done-marker, manifest and summary and
its small arrays' objects, written directly (the image objects are links to one real shard's:
no pixels are made), then the merged summary and the index. Then it times what a user at
that size waits for: building the shard jobs, a shard task's own bookkeeping (opening the
store, its marker, writing, manifest, summary; the fetching excluded), finalize with nothing
to do, then, in a second process as a user would run them, ``verify --quick``, ``info``,
``open_dataset`` and the trainer's sample selection (each process's peak memory is kept). The
same is measured at ``--small`` locations for ``per_shard_overhead_s_small``. Prints one JSON
object; ``--record`` also writes it to ``docs/benchmarks.*`` (:mod:`tools.record`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import zarr

__all__ = ["bench_scale", "read_side", "main", "record_figures"]

BANDS = "B4,B3,B2"
SIZE = 8
SHARD = 16
TRIED = 8  # shards left for real shard tasks (per-shard overhead)


def _rss_mb() -> float:
    """This process's peak resident memory (MB): ``VmHWM``, which starts afresh in a new
    program (``ru_maxrss`` would carry the parent's peak over ``fork`` + ``exec``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _timed(name: str, fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    seconds = round(time.perf_counter() - t, 3)
    print(f"scale_bench: {name} {seconds} s, peak RSS {_rss_mb()} MB", file=sys.stderr, flush=True)
    return out, seconds


def _skeleton(store: Any, ledger: Any, shards: list[int]) -> None:
    """Write ``shards`` finished without making pixels: shard 0 for real, the others as links
    to its objects plus their own lon/lat, manifest, summary and marker."""
    import google_crc32c
    from numcodecs import Zstd

    from shared.store.handle import marker_key
    from shared.store.manifests import manifest_key, read_manifest, shard_keys
    from shared.store.summary import _keys, read_summaries, summary_key
    from shared.store.writer import empty_shard, write_shard

    spec = store.spec
    root = Path(store.location)
    plan = ledger.plan
    primaries = plan[plan["spare_rank"].to_numpy() == 0].sort_values(["shard", "slot"])
    lon_all = primaries["lon"].to_numpy(np.float64)
    lat_all = primaries["lat"].to_numpy(np.float64)
    ids_all = primaries["candidate_id"].to_numpy(np.int64)
    first = shards[0]
    data = empty_shard(spec, first)
    sl = spec.shard_slice(first)
    rng = np.random.default_rng(0)
    for slot in range(sl.stop - sl.start):
        data.set_slot(
            slot,
            pixels=rng.integers(
                1, 3000, (spec.n_seasons, spec.n_bands, spec.size, spec.size), dtype=np.uint16
            ),
            cloud=np.zeros(data.cloud.shape[1:], np.uint8),
            clear_fraction=np.ones(spec.n_seasons, np.float32),
            time=np.array(
                ["2021-01-01", "2021-04-01", "2021-07-01", "2021-10-01"][: spec.n_seasons],
                "datetime64[ms]",
            ),
            product_id=np.array([f"S{s}" for s in range(spec.n_seasons)], dtype=object),
            lon=lon_all[sl][slot],
            lat=lat_all[sl][slot],
            epsg=32632,
            transform=np.array([10.0, 0, 500000.0 + slot * 100, 0, -10.0, 5000000.0]),
            candidate_id=ids_all[sl][slot],
        )
    write_shard(store, first, data)
    template_keys = shard_keys(store, first)
    manifest = read_manifest(store, first)
    summary = read_summaries(store, [first])[first]
    if manifest is None or summary is None:
        raise RuntimeError("the template shard has no manifest or summary")
    zstd = Zstd(level=3, checksum=True)

    def one(shard: int) -> None:
        keys = dict(_keys(store, shard))
        sl = spec.shard_slice(shard)
        own = {
            "lon": zstd.encode(np.ascontiguousarray(lon_all[sl], "<f8").tobytes()),
            "lat": zstd.encode(np.ascontiguousarray(lat_all[sl], "<f8").tobytes()),
            "candidate_id": zstd.encode(np.ascontiguousarray(ids_all[sl], "<i8").tobytes()),
        }
        objects = {}
        for name, key in keys.items():
            src = root / template_keys[name]
            dst = root / key
            dst.parent.mkdir(parents=True, exist_ok=True)
            if name in own:
                dst.write_bytes(own[name])
                crc = int(google_crc32c.value(own[name]))
                objects[key] = {"bytes": len(own[name]), "crc32c": crc}
            elif src.exists():
                os.link(src, dst)
                objects[key] = manifest["objects"][template_keys[name]]
        (root / manifest_key(shard)).write_text(
            json.dumps({"format": 1, "shard": shard, "objects": objects}, sort_keys=True)
        )
        k = sl.stop - sl.start
        mine = {
            key: (v[:k] if isinstance(v, list) and key != "objects" else v)
            for key, v in summary.items()
        }
        mine.update(
            shard=shard,
            samples=list(range(sl.start, sl.stop)),
            lon=lon_all[sl].tolist(),
            lat=lat_all[sl].tolist(),
            candidate_id=ids_all[sl].tolist(),
        )
        (root / summary_key(shard)).write_text(json.dumps(mine))
        os.link(root / marker_key(first), root / marker_key(shard))

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:  # file creation waits on the disk, not the CPU
        list(pool.map(one, shards[1:], chunksize=64))


def bench_scale(n: int, tmp: Path, keep: Path | None = None) -> dict[str, Any]:
    """Every figure at ``n`` locations (see the module); ``keep``: move the store there."""
    from collector.config import CollectConfig
    from collector.plan.candidates import PlanConfig, make_plan
    from collector.run.engine import _jobs
    from collector.run.finalize import build_index, finalize
    from collector.run.jobs import run_shard
    from collector.run.ledger import Ledger, _put_plan, _spec
    from shared.store.handle import create_store, open_store
    from shared.store.merge import SAMPLE_COLUMNS, merge_summaries, save_merge
    from shared.store.summary import RECORD_ATTR, sample_columns

    cfg = CollectConfig(
        plan=PlanConfig(region="world", n=n, seed=0, size=SIZE, shard_samples=SHARD),
        source="synthetic",
        bands=BANDS,
        progress=False,
        backoff_s=0.0,
    )
    out = tmp / f"scale-{n}.zarr"
    figures: dict[str, Any] = {"locations": n}
    plan, figures["plan_s"] = _timed("plan_s", lambda: make_plan(cfg.plan))
    store = create_store(
        str(out), _spec(cfg), source="synthetic", synthetic=True, config=cfg.identity()
    )
    _put_plan(store, plan)
    ledger = Ledger(store, plan, created=True)
    n_shards = store.spec.n_shards
    figures["shards"] = n_shards
    jobs, figures["job_build_s"] = _timed(
        "job_build_s", lambda: _jobs(cfg, ledger, list(range(n_shards)), 1)
    )
    tried = sorted({int(s) for s in np.linspace(1, n_shards - 1, min(TRIED, n_shards - 1))})
    rest = [s for s in range(n_shards) if s not in set(tried)]
    _, figures["skeleton_write_s"] = _timed(
        "skeleton_write_s", lambda: _skeleton(store, ledger, rest)
    )
    overhead: list[float] = []

    def tasks() -> None:
        for shard in tried:
            t = time.perf_counter()
            report = run_shard(jobs[shard])
            overhead.append(time.perf_counter() - t - report.seconds)

    _, figures["shard_tasks_s"] = _timed("shard_tasks_s", tasks)
    figures["per_shard_overhead_s"] = round(statistics.median(overhead), 4)
    jobs.clear()  # free the jobs before the rest
    store = open_store(str(out), "r+")
    done = store.done_shards()

    def merge() -> None:
        samples, shards, _ = merge_summaries(store, done)
        save_merge(store, done, samples, shards)
        live, cols = sample_columns(store, SAMPLE_COLUMNS)
        index = build_index(store, plan, cols, live)
        path = tmp / "index.parquet"
        index.to_parquet(path, index=False, compression="zstd")
        store.write_object("index.parquet", path.read_bytes())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as finalize: consolidated metadata, not in v3 yet
            zarr.consolidate_metadata(store.raw)
        report = {"shards": n_shards, "filled": int(live.size), "reasons": {}}
        store.update_attrs(
            **{RECORD_ATTR: {**store.attrs[RECORD_ATTR], "finalized": True, "report": report}}
        )

    _, figures["finalize_merge_s"] = _timed("finalize_merge_s", merge)
    _, figures["finalize_nothing_to_do_s"] = _timed(
        "finalize_nothing_to_do_s", lambda: finalize(open_store(str(out), "r+"), lambda _line: None)
    )
    figures["collect_peak_rss_mb"] = _rss_mb()
    # what a user runs next are other processes (shared verify / info, a notebook, pretrain):
    # measured in one of their own, with its own memory
    proc = subprocess.run(
        [sys.executable, "-m", "tools.scale_bench", "--read-side", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(f"read side failed: {proc.stderr.strip()[-2000:]}")
    sys.stderr.write(proc.stderr)
    figures.update(json.loads(proc.stdout))
    figures["peak_rss_mb"] = max(figures["collect_peak_rss_mb"], figures["read_peak_rss_mb"])
    if keep is not None:
        shutil.move(str(out), keep / out.name)
    return figures


def read_side(location: str) -> dict[str, Any]:
    """``verify --quick``, ``info``, ``open_dataset`` and the trainer's sample selection on
    the store at ``location``, timed in this process."""
    from shared.access.view import open_dataset
    from shared.checks.verify import verify
    from shared.publish.info import summarize
    from trainer.data import valid_samples

    figures: dict[str, Any] = {}
    result, figures["verify_quick_s"] = _timed(
        "verify_quick_s", lambda: verify(location, decode=False)
    )
    figures["verify_quick_ok"] = result.ok
    if not result.ok:
        figures["verify_quick_first_problem"] = result.problems[0][:200]
    info, figures["info_s"] = _timed("info_s", lambda: summarize(location))
    figures["samples"] = info["samples"]
    _, figures["open_dataset_s"] = _timed("open_dataset_s", lambda: open_dataset(location))
    _, figures["trainer_selection_s"] = _timed(
        "trainer_selection_s", lambda: valid_samples(location)
    )
    figures["read_peak_rss_mb"] = _rss_mb()
    return figures


def record_figures(figures: dict[str, Any]) -> None:
    """Write the printed JSON object of a run (``figures``) to ``docs/benchmarks.*``."""
    from tools.record import record, set_recording

    set_recording(True)
    small, n, n_small = figures["small"], figures["locations"], figures["small_locations"]
    flat = {f"scale.{k}": v for k, v in figures.items() if not isinstance(v, dict)}
    flat.update({f"scale.small.{k}": v for k, v in small.items()})
    keys = (
        "plan_s",
        "job_build_s",
        "per_shard_overhead_s",
        "finalize_merge_s",
        "finalize_nothing_to_do_s",
        "verify_quick_s",
        "info_s",
        "open_dataset_s",
        "trainer_selection_s",
    )
    rows = [(f"{k} at {n_small:,} / {n:,}", f"{small[k]} / {figures[k]}") for k in keys]
    rows.append(
        (
            f"peak RSS (MB) at {n:,}: collecting process / reading process",
            f"{figures['collect_peak_rss_mb']} / {figures['read_peak_rss_mb']}",
        )
    )
    rows.append(("whole benchmark (s)", str(figures["total_s"])))
    record(
        "scale",
        "Collection bookkeeping from 1 thousand to N locations (skeleton store, no pixels)",
        f"python -m tools.scale_bench --locations {n} --record",
        flat,
        rows,
        notes="Synthetic source, 8-px patches, 4 seasons, RGB, shards of 16; a skeleton "
        "store (markers, manifests, summaries, small arrays, merged summary, index) with "
        f"{TRIED} shards written by real shard tasks. The reading steps (verify, info, "
        "open_dataset, the trainer's selection) run in a second process, as they do for a "
        f"user. This 2-core VM, load average {os.getloadavg()[0]:.1f} at the end.",
    )


#: the fewest locations measured: enough shards for the real shard tasks besides shard 0
MIN_LOCATIONS = (TRIED + 2) * SHARD


def _size(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < MIN_LOCATIONS:
        raise argparse.ArgumentTypeError(f"expected at least {MIN_LOCATIONS} locations, got {n}")
    return n


def main(argv: list[str] | None = None) -> int:
    from shared.cli import OneLineParser

    parser = OneLineParser(prog="python -m tools.scale_bench", description=__doc__)
    parser.add_argument("--locations", type=_size, default=1_000_000, help="N (default 1000000)")
    parser.add_argument("--small", type=_size, default=1000, help="the small size (default 1000)")
    parser.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.*")
    parser.add_argument("--keep", default=None, help="keep the stores in this folder")
    parser.add_argument("--read-side", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.small > args.locations:
        parser.error(f"--small {args.small} is larger than --locations {args.locations}")
    if args.read_side:
        print(json.dumps(read_side(args.read_side)), flush=True)
        return 0
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(dir=args.tmp, prefix="scale-bench-"))
    keep = Path(args.keep) if args.keep else None
    small = bench_scale(args.small, tmp, keep)
    print(json.dumps({"small": small}), file=sys.stderr)
    big = bench_scale(args.locations, tmp, keep) if args.locations != args.small else small
    figures = {
        **big,
        "per_shard_overhead_s_small": small["per_shard_overhead_s"],
        "small_locations": args.small,
        "small": small,
        "peak_rss_mb": max(small["peak_rss_mb"], big["peak_rss_mb"]),
        "total_s": round(time.perf_counter() - start, 1),  # deleting the stores excluded
    }
    print(json.dumps(figures), flush=True)
    if args.record:
        record_figures(figures)
    shutil.rmtree(tmp, ignore_errors=True)  # a million small files take minutes to delete
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
