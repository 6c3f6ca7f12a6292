"""Speed and cloud statistics of the synthetic source, the way the collection engine uses it.

``python -m collector.sources.synthetic.bench [--locations 200] [--repeats 3] [--size 264]``

For each location: :meth:`~SyntheticSource.search`, choose the scene with the highest clear
fraction in every window, and reject the location when a window has no scene reaching
``--min-clear`` (the engine's rule); otherwise :meth:`~SyntheticSource.fetch` all bands of the
four chosen scenes. The rate counts *accepted* (fetched) locations per second of wall time,
the searches of rejected ones included. Pin it to one core (``taskset -c 0``) and keep BLAS
single-threaded (``OPENBLAS_NUM_THREADS=1``) to measure per-core speed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from collector.sources.base import Location, Scene
from collector.sources.synthetic.sites import random_locations
from collector.sources.synthetic.source import SyntheticSource

__all__ = ["BenchResult", "choose_scenes", "run_once", "main"]


@dataclass(frozen=True)
class BenchResult:
    """One pass over the locations."""

    seconds: float
    locations: int
    accepted: int
    fetched_clear_min: float

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.seconds

    @property
    def rejection_rate(self) -> float:
        return 1.0 - self.accepted / self.locations


def choose_scenes(windows: list[list[Scene]], min_clear: float) -> list[Scene] | None:
    """The clearest scene of every window, or ``None`` when one has none reaching ``min_clear``."""
    chosen = []
    for scenes in windows:
        best = max(scenes, key=lambda s: (s.clear_fraction or 0.0, -s.cloud_percent), default=None)
        if best is None or (best.clear_fraction or 0.0) < min_clear:
            return None
        chosen.append(best)
    return chosen


def run_once(
    source: SyntheticSource, locations: Sequence[Location], min_clear: float = 0.9
) -> BenchResult:
    """Search, choose and fetch every location once; time it."""
    accepted = 0
    worst = 1.0
    start = time.perf_counter()
    for loc in locations:
        chosen = choose_scenes(source.search(loc), min_clear)
        if chosen is None:
            continue
        patch = source.fetch(loc, chosen)
        worst = min(worst, float(patch.clear_fractions().min()))
        accepted += 1
    return BenchResult(time.perf_counter() - start, len(locations), accepted, worst)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m collector.sources.synthetic.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--locations", type=int, default=200, help="locations per pass (default 200)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument("--size", type=int, default=264, help="patch size in pixels (default 264)")
    parser.add_argument("--collection", default="L1C", choices=("L1C", "L2A"))
    parser.add_argument(
        "--min-clear", type=float, default=0.9, help="clear fraction a season needs"
    )
    parser.add_argument("--lat", type=float, nargs=2, default=(35.0, 55.0), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.locations < 1 or args.repeats < 1 or args.size < 2:
        parser.error("--locations and --repeats must be ≥ 1 and --size ≥ 2")
    source = SyntheticSource(collection=args.collection, seed=args.seed)
    locations = random_locations(
        args.locations, seed=args.seed, lat_range=tuple(args.lat), size=args.size
    )
    run_once(source, locations[: min(5, len(locations))], args.min_clear)  # warm-up
    results = [run_once(source, locations, args.min_clear) for _ in range(args.repeats)]
    rates = [r.accepted_per_second for r in results]
    r0 = results[0]
    print(
        f"synthetic {args.collection}, {len(source.bands or ())} bands, {args.size}² px, 4 seasons, "
        f"lat {args.lat[0]:g}..{args.lat[1]:g}"
    )
    print(f"locations: {r0.locations}, accepted: {r0.accepted}, rejected: {r0.rejection_rate:.1%}")
    print(f"lowest clear fraction of a fetched season: {r0.fetched_clear_min:.3f}")
    print("accepted locations/s per pass: " + ", ".join(f"{r:.1f}" for r in rates))
    print(f"median: {statistics.median(rates):.1f} accepted locations/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
