"""``python -m tools.collector_bench WHAT``: collector benchmarks, written to ``docs/benchmarks.*``."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from tools.record import add_record_flag, one_core, record, set_recording

__all__ = ["bench_plan", "bench_synthetic", "bench_latency", "bench_earthengine", "bench_bytes"]


def bench_plan(n: int = 666_667, repeats: int = 3) -> dict[str, float]:
    """Plan ``n`` locations world-wide (``1.5 n`` candidates) on one core; median seconds."""
    from collector.plan.candidates import PlanConfig, make_plan

    times, info = [], {}
    with one_core():
        for r in range(repeats):
            t = time.perf_counter()
            plan = make_plan(PlanConfig(region="world", n=n, seed=r))
            times.append(time.perf_counter() - t)
            info = plan.attrs["seco_plan"]
    med = statistics.median(times)
    candidates = len(plan)
    figures = {
        "plan_candidates": candidates,
        "plan_seconds_one_core": round(med, 2),
        "plan_candidates_per_s_one_core": round(candidates / med),
    }
    record(
        "collector_plan",
        "Planning: non-overlapping candidates world-wide (one core)",
        f"python -m tools.collector_bench plan --n {n}",
        figures,
        [
            ("candidates (N × 1.5 spares)", f"{candidates:,}"),
            (
                f"seconds, median of {repeats} seeds",
                f"{med:.1f} (all: {', '.join(f'{t:.1f}' for t in times)})",
            ),
            ("candidates per second", f"{candidates / med:,.0f}"),
            (
                "draws / rejected as overlapping (last run)",
                f"{info['draws']:,} / {info['rejected_overlap']:,}",
            ),
        ],
        notes="Every candidate's footprint is tested exactly against all accepted ones; at this "
        f"density the largest city clusters saturate: {info['rejected_overlap'] / info['draws']:.0%} "
        "of the draws overlapped an earlier candidate.",
    )
    return figures


def bench_synthetic(locations: int = 150, repeats: int = 3, size: int = 264) -> dict[str, float]:
    """Synthetic source through the engine's own location pipeline, one core, all 13 bands."""
    from collector.run.choose import ChoiceRules
    from collector.run.fill import collect_location
    from collector.sources.retry import RetryPolicy
    from collector.sources.synthetic import SyntheticSource
    from collector.sources.synthetic.sites import random_locations

    source = SyntheticSource()
    rules, policy = ChoiceRules(), RetryPolicy()
    rates, rejected = [], []
    with one_core():
        for r in range(repeats):
            locs = random_locations(locations, seed=r, size=size)
            t = time.perf_counter()
            results = [collect_location(source, loc, rules, policy) for loc in locs]
            dt = time.perf_counter() - t
            ok = sum(res.patch is not None for res in results)
            rates.append(ok / dt)
            rejected.append(1 - ok / locations)
    rate = statistics.median(rates)
    figures = {
        "synthetic_loc_s_one_core": round(rate, 1),
        "synthetic_rejection_rate": round(statistics.median(rejected), 3),
    }
    record(
        "collector_synthetic",
        "Synthetic source: search + least-cloudy choice + fetch, one core",
        f"python -m tools.collector_bench synthetic --locations {locations}",
        figures,
        [
            ("patch", f"4 seasons × 13 bands × {size}², uint16"),
            (
                f"accepted locations/s, median of {repeats}",
                f"{rate:.1f} (all: {', '.join(f'{x:.1f}' for x in rates)})",
            ),
            ("locations rejected (clouds), median", f"{statistics.median(rejected):.1%}"),
        ],
        notes="Random locations 35–55° N, 10° W–40° E, 2019–2023; rejected locations' searches "
        "are included in the time. Goal: ≥ 25 locations/s per core.",
    )
    return figures


def _latency_config(n: int, source: str, latency: float, bound: int, size: int, options: dict):
    from collector.config import CollectConfig
    from collector.plan.candidates import PlanConfig

    return CollectConfig(
        plan=PlanConfig(region="europe", n=n, seed=0, size=size, spares=2.0),
        source=source,
        bands="rgb",
        source_options=options,
        scheduler=None,
        workers=2,
        max_in_flight=bound,
        max_requests_per_s=1e9,
        concurrency=16,
        tasks_per_worker=4,
        backoff_s=0.0,
        progress=False,
    )


def bench_latency(n: int = 1200, latency: float = 0.5, bound: int = 40) -> dict[str, float]:
    """Engine throughput against a source with fixed latency, as a fraction of the bound."""
    import tempfile

    from collector.run.engine import collect

    with tempfile.TemporaryDirectory(dir="datasets" if os.path.isdir("datasets") else None) as tmp:
        cfg = _latency_config(n, "emulated", latency, bound, 16, {"latency_s": latency})
        result = collect(cfg, f"{tmp}/latency.zarr", log=lambda s: None)
    achieved = result.requests / result.fetch_seconds
    ceiling = bound / latency
    figures = {
        "collect_latency_requests_per_s": round(achieved, 2),
        "collect_latency_bound_requests_per_s": ceiling,
        "collect_latency_fraction_of_bound": round(achieved / ceiling, 3),
    }
    record(
        "collector_latency",
        f"Collection engine vs a {latency:g} s-latency source, {bound} requests in flight",
        f"python -m tools.collector_bench latency --n {n}",
        figures,
        [
            (
                "locations collected",
                f"{result.filled:,} ({result.rejected} rejected, {result.requests:,} requests)",
            ),
            ("fetch phase", f"{result.fetch_seconds:.1f} s"),
            ("requests/s achieved", f"{achieved:.1f}"),
            ("bound (in flight ÷ latency)", f"{ceiling:.1f}"),
            ("fraction of the bound", f"{achieved / ceiling:.3f} (goal ≥ 0.9)"),
        ],
        notes="SOURCE=emulated: every request waits the latency and computes nothing, so the "
        "figure is the engine's own (16 px, RGB); 2 Dask worker processes × 4 tasks × 16 "
        "locations, one cluster-wide semaphore of 40 leases. The fetch phase is timed from the "
        "first task submitted to the last done, worker start-up included.",
    )
    return figures


def bench_earthengine(
    n: int = 600,
    latency: float = 0.5,
    bound: int = 40,
    error_rates: tuple[float, ...] = (0.0, 0.05),
) -> dict[str, float]:
    """The Earth Engine source, through the real earthengine-api client, against the offline
    HTTP endpoint with a fixed latency: requests per location at each transient error rate."""
    import json
    import tempfile

    from collector.run.engine import collect
    from collector.sources.earthengine.auth import ENV_KEY
    from collector.sources.earthengine.server import FakeEarthEngine

    figures: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    for rate in error_rates:
        server = FakeEarthEngine(latency_s=latency, error_rate=rate, seed=0)
        server.record_bodies = False
        saved = os.environ.get(ENV_KEY)
        os.environ[ENV_KEY] = json.dumps(server.service_account_key())  # workers inherit it
        options = {"project": "bench", "url": server.url}
        try:
            with tempfile.TemporaryDirectory(
                dir="datasets" if os.path.isdir("datasets") else None
            ) as tmp:
                cfg = _latency_config(n, "earthengine", latency, bound, 32, options)
                result = collect(cfg, f"{tmp}/ee.zarr", log=lambda s: None)
        finally:
            server.close()
            if saved is None:
                os.environ.pop(ENV_KEY, None)
            else:
                os.environ[ENV_KEY] = saved
        calls = server.api_calls()
        failed = sum(c.status >= 500 for c in calls)
        setup = len(server.log) - len(calls)  # token, discovery, algorithm list: per process
        filled = max(result.filled, 1)
        achieved = len(calls) / result.fetch_seconds
        tag = f"{round(rate * 100)}pct"
        figures[f"ee_requests_per_location_{tag}"] = round(len(calls) / filled, 3)
        figures[f"ee_fraction_of_bound_{tag}"] = round(achieved / (bound / latency), 3)
        rows.append(
            (
                f"{rate:.0%} transient errors (JSON 503)",
                f"{len(calls) / filled:.3f} requests per location ({len(calls):,} for "
                f"{result.filled:,}; {failed} answered 503; {result.rejected} rejected); "
                f"{achieved:.1f} requests/s of {bound / latency:.1f}; {setup} set-up requests",
            )
        )
    record(
        "collector_earthengine",
        f"Earth Engine source vs the offline HTTP endpoint ({latency:g} s per request, "
        f"{bound} in flight)",
        f"python -m tools.collector_bench earthengine --n {n}",
        figures,
        rows,
        notes="The real earthengine-api client (discovery document, serialization, token "
        "refresh, error translation) talks HTTP to collector.sources.earthengine.server on "
        "127.0.0.1, which answers every value:compute and computePixels after the fixed latency "
        "and fails each with a JSON 503 at the given rate. The client's own retries are off; "
        "the engine retries (backoff 0 here). 2 Dask worker processes × 4 tasks × 16 locations, "
        "32 px RGB, one semaphore of the in-flight bound. SeCo needed ≈ 20 requests per "
        "location. Set-up requests (token, discovery document, algorithm list) are per process.",
    )
    return figures


def bench_bytes(n: int = 64, size: int = 264) -> dict[str, float]:
    """Bytes on disk per location against raw uint16, on synthetic 13-band patches."""
    import tempfile
    from pathlib import Path

    from collector.config import CollectConfig
    from collector.plan.candidates import PlanConfig
    from collector.run.engine import collect
    from shared.layout.arrays import IMAGE_ZSTD_LEVEL

    with tempfile.TemporaryDirectory(dir="datasets" if os.path.isdir("datasets") else None) as tmp:
        cfg = CollectConfig(
            plan=PlanConfig(region="europe", n=n, size=size), source="synthetic", progress=False
        )
        out = Path(tmp) / "bytes.zarr"
        result = collect(cfg, str(out), log=lambda s: None)
        pixels = sum(p.stat().st_size for p in out.glob("pixels*/**/*") if p.is_file())
        total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    raw = result.filled * 4 * 13 * size * size * 2
    figures = {
        "bytes_per_location_pixels": round(pixels / result.filled),
        "bytes_ratio_pixels_vs_raw": round(pixels / raw, 3),
        "bytes_ratio_store_vs_raw": round(total / raw, 3),
    }
    record(
        "collector_bytes",
        "Bytes on disk per location (lossless)",
        f"python -m tools.collector_bench bytes --n {n}",
        figures,
        [
            (
                "raw uint16 per location",
                f"{raw / result.filled / 2**20:.2f} MiB (4 × 13 × {size}² × 2 B)",
            ),
            (
                "pixels on disk per location",
                f"{pixels / result.filled / 2**20:.2f} MiB = {pixels / raw:.3f} of raw",
            ),
            ("whole store (cloud, metadata, index, pictures)", f"{total / raw:.3f} of raw"),
        ],
        notes=f"Blosc (zstd level {IMAGE_ZSTD_LEVEL}, byte shuffle) + crc32c per image chunk. "
        "Synthetic patches "
        "carry sensor-like noise; real Sentinel-2 compresses differently, so re-measure on a "
        "real store. Goal: ≤ 0.6 of raw.",
    )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Run one collector benchmark and print its figures on one line."""
    parser = argparse.ArgumentParser(prog="python -m tools.collector_bench", description=__doc__)
    benches: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "plan": lambda a: bench_plan(n=a.n or 666_667, repeats=a.repeats),
        "synthetic": lambda a: bench_synthetic(locations=a.n or 150, repeats=a.repeats),
        "latency": lambda a: bench_latency(n=a.n or 1200),
        "earthengine": lambda a: bench_earthengine(n=a.n or 600),
        "bytes": lambda a: bench_bytes(n=a.n or 64),
    }
    parser.add_argument("what", choices=list(benches))
    parser.add_argument("--n", type=int, default=None, help="locations (default per benchmark)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats, the median is kept")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    set_recording(args.record)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # per-core figures: no BLAS threads
    figures = benches[args.what](args)
    print("  ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
