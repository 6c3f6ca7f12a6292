"""Sentinel-2 sources behind one protocol (see ``base``), chosen by name from a fixed table.

Each source class declares its facts (:class:`~collector.sources.facts.SourceFacts`: synthetic
or not, levels, runtime defaults, preflight); callers ask :func:`source_facts`, never compare
names. Add a source: a subpackage with the class and an optional ``preflight(options)``, and
one row in :data:`SOURCES`.
"""

from __future__ import annotations

import importlib
from typing import Any

from collector.sources.base import (
    Location,
    Patch,
    PermanentError,
    Scene,
    Source,
    SourceError,
    TransientError,
)
from collector.sources.facts import SourceFacts

__all__ = [
    "SOURCES",
    "make_source",
    "source_class",
    "source_facts",
    "SourceFacts",
    "preflight",
    "probe",
    "Location",
    "Patch",
    "PermanentError",
    "Scene",
    "Source",
    "SourceError",
    "TransientError",
]

#: name → (module, factory). Each module's ``make(collection, bands, options)`` builds the
#: source; its optional ``preflight(options)`` checks credentials before anything is written.
SOURCES: dict[str, tuple[str, str]] = {
    "synthetic": ("collector.sources.synthetic", "SyntheticSource"),
    "earthengine": ("collector.sources.earthengine.source", "EarthEngineSource"),
    "stac": ("collector.sources.stac.source", "StacSource"),
    "emulated": ("collector.sources.emulated", "EmulatedSource"),  # latency only, for benches
}


def _module(name: str) -> Any:
    if name not in SOURCES:
        raise ValueError(f"unknown SOURCE {name!r}: choose one of {', '.join(SOURCES)}")
    return importlib.import_module(SOURCES[name][0])


def source_class(name: str) -> Any:
    """The class of the source called ``name`` (its module imported on first use).

    Raises:
        ValueError: no such source (the message lists them).
    """
    return getattr(_module(name), SOURCES[name][1])


def source_facts(name: str) -> SourceFacts:
    """What the source called ``name`` declares about itself."""
    facts: SourceFacts = source_class(name).facts
    return facts


def make_source(
    name: str,
    collection: str,
    bands: tuple[str, ...],
    options: dict[str, Any],
    granule_cloud_max: float = 20.0,
) -> Source:
    """Build a source by name, wrapped in fault injection when ``options["faults"]`` is set.

    Every source takes ``collection``, ``bands`` and ``granule_cloud_max`` (its server-side
    pre-filter) plus its own options.
    """
    opts = dict(options)
    faults = opts.pop("faults", None)
    factory = source_class(name)
    source: Source = factory(
        collection=collection, bands=bands, granule_cloud_max=granule_cloud_max, **opts
    )
    if faults:
        from collector.sources.faults import FaultySource

        source = FaultySource(source, **faults)
    return source


def preflight(name: str, options: dict[str, Any]) -> None:
    """Fail early (one clear error) when a source cannot work, e.g. without credentials."""
    check = getattr(_module(name), "preflight", None)
    if check is not None:
        check({k: v for k, v in options.items() if k != "faults"})


def probe(name: str, options: dict[str, Any]) -> None:
    """Fail fast when a network source's service cannot be reached at all (its host name does
    not resolve): the module's optional ``probe(options)`` raises
    :class:`~collector.sources.base.UnreachableError`. Called by ``collect`` (never by
    ``--dry-run``), before anything is written."""
    check = getattr(_module(name), "probe", None)
    if check is not None:
        check({k: v for k, v in options.items() if k != "faults"})
