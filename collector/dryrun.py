"""``--dry-run``: what a collection would ask of its source, computed from its settings alone.

Nothing is contacted and nothing is written. Per accepted location, Earth Engine makes two
requests (one search, one ``computePixels``); a STAC catalogue makes one search, reads the SCL
of up to 4 candidate scenes per window, then one COG window per band and season (plus SCL),
each read being a HEAD and about two range GETs. Rejected candidates cost their search (and
STAC's SCL reads), so the figures are lower bounds that grow with the rejection rate, which is
printed as an assumption.
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
    per_location: str

    def lines(self) -> list[str]:
        return [
            f"locations      {self.locations:,}",
            f"requests       ≥ {self.requests:,} ({self.per_location})",
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
    bands = len(cfg.band_list())
    seasons = p.seasons
    if cfg.source == "stac":
        scl = 4 * seasons
        reads = 1 + scl + (bands + 1) * seasons
        requests = reads * n + (1 + scl) * rejected
        per = (
            f"{reads} per location: 1 search, {scl} SCL windows, {(bands + 1) * seasons} band "
            f"windows; each window ≈ 3 HTTP requests"
        )
    else:
        requests = 2 * n + rejected
        per = "2 per location + 1 search per rejected candidate"
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
    return DryRun(n, requests, per_location, seconds, bound, per)
