"""``--dry-run``: what a collection would ask of its source, computed from its settings alone.

Nothing is contacted and nothing is written. Per accepted location, Earth Engine makes two
requests (one search, one ``computePixels``); a STAC catalogue makes one search, reads the SCL
of up to 4 candidate scenes per window, then one COG window per band and season (plus SCL),
each read being a HEAD and about two range GETs. Rejected candidates cost their search (and
STAC's SCL reads), so the figures are lower bounds that grow with the rejection rate, which is
printed as an assumption.

Retries: at an assumed share of transient errors per HTTP request, each request is sent
``(1 − e^A) / (1 − e)`` times on average, A = ``max_attempts``. Earth Engine's client retries
nothing itself (its retries are switched off), so that is all; STAC's COG reads are retried by
GDAL first (``http_retries``), then by the engine.
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
    error_rate: float = 0.0
    attempts_per_request: float = 1.0
    retry_note: str = ""

    def lines(self) -> list[str]:
        return [
            f"locations      {self.locations:,}",
            f"requests       ≥ {self.requests:,} ({self.per_location})",
            f"retries        ≈ {self.requests * self.attempts_per_request:,.0f} requests with "
            f"{self.error_rate:.0%} transient errors ({self.retry_note})",
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


def attempts_per_request(error_rate: float, outer: int, inner: int = 1) -> float:
    """Mean HTTP requests per logical request when each fails transiently with probability
    ``error_rate``: ``inner`` tries by the client library, repeated up to ``outer`` times by
    the engine while all ``inner`` fail."""
    e = min(max(float(error_rate), 0.0), 0.999)
    per_round = (1 - e**inner) / (1 - e)
    q = e**inner
    return per_round * (1 - q**outer) / (1 - q)


def dry_run(
    cfg: CollectConfig,
    rejection_rate: float = 0.2,
    latency_s: float = 2.0,
    error_rate: float = 0.05,
) -> DryRun:
    """Requests, bytes and time for ``cfg`` at its source's quota bound.

    ``rejection_rate``: assumed share of candidates rejected for clouds; ``latency_s``:
    assumed seconds per request (Earth Engine's ``computePixels`` of ~8 MB takes seconds);
    ``error_rate``: assumed share of HTTP requests failing transiently.
    """
    from collector.plan.regions import parse_region

    parse_region(cfg.plan.region)  # a bad REGION is an error here too
    p = cfg.plan
    n = p.n
    rejected = int(round(n * rejection_rate / max(1e-9, 1 - rejection_rate)))
    bands = len(cfg.band_list())
    seasons = p.seasons
    cog = cfg.facts.cog_windows
    if cog:
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
    if cog:
        inner = 1 + int(cfg.source_options.get("http_retries", 3))
        note = f"GDAL tries each read {inner} times, the engine up to {cfg.max_attempts}"
    else:
        inner = 1
        note = f"each sent at most {cfg.max_attempts} times; the client's own retries are off"
    attempts = attempts_per_request(error_rate, cfg.max_attempts, inner)
    return DryRun(n, requests, per_location, seconds, bound, per, error_rate, attempts, note)
