"""``python -m collector bench``: collector benchmarks, written to ``docs/benchmarks.*``."""

from __future__ import annotations

import os
import statistics
import time

from shared.benchmarks import record

__all__ = ["bench_plan"]


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def bench_plan(n: int = 666_667, repeats: int = 3) -> dict[str, float]:
    """Plan ``n`` locations world-wide (``1.5 n`` candidates) on one core; median seconds."""
    from collector.plan import PlanConfig, make_plan

    _pin_one_core()
    times, info = [], {}
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
        f"python -m collector bench plan --n {n}",
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
