"""A collection's configuration: what decides the data (its identity) and how to run it.

The identity (plan, source, processing level, bands, cloud rules, source options) is stored
in the store's attributes; resuming with a different identity is refused. Runtime settings
(scheduler, workers, concurrency, retries, storage credentials) may change between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.plan.candidates import PlanConfig
from collector.sources import SOURCES, SourceFacts, source_class, source_facts
from shared.layout.bands import band_names, resolve_bands
from shared.layout.native import check_size
from shared.secrets import redact
from shared.validate import (
    ConfigValueError,
    Range,
    check_choice,
    check_fields,
    check_host_port,
    check_scheduler_address,
)

__all__ = ["CollectConfig", "COLLECT_LIMITS", "config_differences", "check_source_options"]

#: allowed ranges of CollectConfig's numbers (types come from the annotations)
COLLECT_LIMITS: dict[str, Range] = {
    "clear_threshold": Range(0, 1, low_open=True),
    "granule_cloud_max": Range(0, 100),
    "workers": Range(1, 4096),
    "max_in_flight": Range(1, 1_000_000),
    "max_requests_per_s": Range(0, 1e9, low_open=True),
    "concurrency": Range(1, 4096),
    "tasks_per_worker": Range(1, 4096),
    "max_attempts": Range(1, 1000),
    "backoff_s": Range(0, 3600),
    "backoff_max_s": Range(0, 86_400),
    "refetch": Range(0, 100),
}


@dataclass(frozen=True)
class CollectConfig:
    """Everything ``collect`` needs. ``bands`` is ``"all"``, ``"rgb"`` or a comma list."""

    plan: PlanConfig
    source: str = "earthengine"
    collection: str = "L1C"
    bands: str = "all"
    clear_threshold: float = 0.9
    granule_cloud_max: float = 20.0
    source_options: dict[str, Any] = field(default_factory=dict)
    truth: bool = False  # store the synthetic world's land cover (evaluation stores)
    # runtime
    scheduler: str | None = None
    dashboard: str = "127.0.0.1:0"  # host:port of a LocalCluster's dashboard (and HTTP server)
    workers: int | None = None
    max_in_flight: int | None = None
    max_requests_per_s: float | None = None
    concurrency: int | None = None
    tasks_per_worker: int | None = None
    max_attempts: int = 6
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    refetch: int = 2
    storage_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    recipe: dict[str, Any] | None = None  # the resolved recipe, recorded in the store

    def __post_init__(self) -> None:
        check_fields(self, COLLECT_LIMITS)
        check_choice("source", self.source, SOURCES)
        if self.scheduler is not None:
            check_scheduler_address("scheduler", self.scheduler)
        check_host_port("dashboard", self.dashboard)
        if self.collection.upper() not in ("L1C", "L2A"):
            raise ValueError(f"BANDS level must be l1c or l2a, got {self.collection!r}")
        object.__setattr__(self, "collection", self.collection.upper())
        try:  # layout 3 keeps 20/60 m bands at their own resolution: whole pixels only
            check_size(self.plan.size, self.band_list())
        except ValueError as e:
            raise ValueError(f"--size: {e}") from None
        if not 0.0 < self.clear_threshold <= 1.0:
            raise ValueError(f"clear threshold must be in (0, 1], got {self.clear_threshold}")
        if not 0.0 <= self.granule_cloud_max <= 100.0:
            raise ValueError(f"granule cloud max must be in [0, 100], got {self.granule_cloud_max}")
        for name in ("workers", "max_in_flight", "concurrency", "tasks_per_worker"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be ≥ 1, got {self.max_attempts}")
        facts = self.facts
        if self.collection not in facts.levels:
            raise ValueError(
                f"SOURCE={self.source} serves {' and '.join(facts.levels)} only: "
                f"use BANDS={' or '.join(level.lower() for level in facts.levels)}"
            )
        if self.truth and not facts.truth:
            raise ValueError(
                "--truth needs SOURCE=synthetic: only the synthetic world knows its land cover"
            )

    @property
    def facts(self) -> SourceFacts:
        """What the source declares about itself (synthetic, levels, runtime defaults …)."""
        return source_facts(self.source)

    def band_list(self) -> tuple[str, ...]:
        """The bands to collect, in the processing level's store order."""
        available = band_names(self.collection)
        chosen = set(resolve_bands(self.bands, available))
        return tuple(b for b in available if b in chosen)

    def runtime(self, name: str) -> Any:
        """A runtime setting, falling back to the source's default."""
        value = getattr(self, name)
        return getattr(self.facts.runtime, name) if value is None else value

    def identity(self) -> dict[str, Any]:
        """What decides the data; stored in the store and compared on resume (no secrets)."""
        plan = self.plan.to_dict()
        region = Path(str(plan["region"]))
        if region.is_file():  # a vector file: the same file however its path was written
            plan["region"] = str(region.resolve())
        return redact(
            {
                "plan": plan,
                "source": self.source,
                "collection": self.collection,
                "bands": list(self.band_list()),
                "clear_threshold": self.clear_threshold,
                "granule_cloud_max": self.granule_cloud_max,
                "source_options": dict(sorted(self.source_options.items())),
                "truth": self.truth,
            }
        )


def check_source_options(source: str, options: dict[str, Any]) -> None:
    """Check ``source_options`` against the keyword arguments the source's class takes, so a
    misspelt option is a usage error before anything is created, not a crash in every task.

    Raises:
        ConfigValueError: an option the source does not take; the message lists those it does.
    """
    import inspect

    check_choice("source", source, SOURCES)
    factory = source_class(source)
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    taken = sorted(set(params) - {"self", "collection", "bands", "granule_cloud_max"})
    unknown = sorted(set(options) - set(taken) - {"faults"})
    if unknown:
        raise ConfigValueError(
            "source_options",
            f"SOURCE {source} takes no option {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(taken) or 'none'}",
        )


def config_differences(
    stored: dict[str, Any], wanted: dict[str, Any], prefix: str = ""
) -> list[tuple[str, Any, Any]]:
    """``(key, stored value, wanted value)`` for every setting where two identities differ."""
    out: list[tuple[str, Any, Any]] = []
    for key in sorted(set(stored) | set(wanted)):
        a, b = stored.get(key), wanted.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{name}.")
        elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            if list(a) != list(b):
                out.append((name, a, b))
        elif a != b:
            out.append((name, a, b))
    return out
