"""What a source class declares about itself, so that callers ask it instead of comparing
its name (each class's ``facts``; :func:`collector.sources.source_facts` reads them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RuntimeDefaults", "SourceFacts"]


@dataclass(frozen=True)
class RuntimeDefaults:
    """A source's runtime defaults: cluster-wide requests in flight and requests/s (None: no
    bound), locations fetched at once per task, tasks run at once per worker (network sources
    wait, the synthetic world computes)."""

    max_in_flight: int | None
    max_requests_per_s: float | None
    concurrency: int
    tasks_per_worker: int


@dataclass(frozen=True)
class SourceFacts:
    """What a source class declares about itself (its ``facts``), so that callers ask the
    source instead of comparing its name.

    ``synthetic``: its pixels are generated, not observed; ``levels``: the processing levels
    it serves, the first being the default (``--bands l1c``/``l2a``); ``truth``: it knows the
    land cover and can store it (``--truth``); ``offline_preflight``: its module's
    ``preflight(options)`` makes no network call, so the command line runs it as a usage
    check; ``catalogs``: it reads a STAC catalogue (``--stac NAME``); ``cog_windows``: it reads
    windows of cloud-optimised GeoTIFFs (a search, the cloud-mask windows, a window per band
    and season; each read retried ``http_retries`` times by GDAL) rather than one search and
    one fetch request per location.
    """

    synthetic: bool
    levels: tuple[str, ...]
    runtime: RuntimeDefaults
    truth: bool = False
    offline_preflight: bool = False
    catalogs: bool = False
    cog_windows: bool = False

    @property
    def default_bands(self) -> str:
        """The ``--bands`` level used when none is given."""
        return self.levels[0].lower()
