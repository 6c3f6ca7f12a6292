"""``--dry-run``: what a collection would ask of its source, computed from the plan alone.

Nothing is contacted and nothing is written. Requests on the normal path are two per
location (search, fetch); rejected candidates cost one search each (and a fetch when the
patch turns out cloudier than its measured estimate), so the figures are lower bounds that
grow with the rejection rate, which is printed as an assumption.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.config import CollectConfig

__all__ = ["DryRun", "dry_run"]


@dataclass(frozen=True)
class DryRun:
    locations: int
    requests: int
    bytes_per_location: int
    seconds_at_bound: float
    bound: str

    def lines(self) -> list[str]:
        return [
            f"locations      {self.locations:,}",
            f"requests       ≥ {self.requests:,} (2 per location + 1 search per rejected candidate)",
            f"download       {self.bytes_per_location / 2**20:.1f} MiB per location, "
            f"{self.bytes_per_location * self.locations / 2**30:.1f} GiB in all (uncompressed)",
            f"time           ≥ {_duration(self.seconds_at_bound)} at the quota bound ({self.bound})",
        ]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def dry_run(cfg: CollectConfig, rejection_rate: float = 0.2, latency_s: float = 2.0) -> DryRun:
    """Requests, bytes and time for ``cfg`` at its source's quota bound.

    ``rejection_rate``: assumed share of candidates rejected for clouds; ``latency_s``:
    assumed seconds per request (Earth Engine's ``computePixels`` of ~8 MB takes seconds).
    """
    from collector.regions import parse_region

    parse_region(cfg.plan.region)  # a bad REGION is an error here too
    p = cfg.plan
    n = p.n
    rejected = int(round(n * rejection_rate / max(1e-9, 1 - rejection_rate)))
    requests = 2 * n + rejected
    bands = len(cfg.band_list())
    per_location = p.size * p.size * p.seasons * (2 * bands + 1)
    in_flight = cfg.runtime("max_in_flight")
    rate = cfg.runtime("max_requests_per_s")
    limits = []
    if in_flight:
        limits.append(
            (requests * latency_s / in_flight, f"{in_flight} in flight × {latency_s:g} s")
        )
    if rate:
        limits.append((requests / rate, f"{rate:g} requests/s"))
    seconds, bound = max(limits) if limits else (0.0, "no quota")
    return DryRun(n, requests, per_location, seconds, bound)
