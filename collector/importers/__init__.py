"""Importers of published pre-training datasets, chosen by name from a fixed table.

``python -m collector import FORMAT DATA --out STORE`` turns a dataset already on disk into a
store: SeCo-100K/1M (``seco``), SSL4EO-S12 v1 GeoTIFF folders (``ssl4eo-s12``) and
SSL4EO-S12 v1.1 Zarr zips (``ssl4eo-s12-zarr``). Each importer class states its facts once
(levels, seasons, provenance); :mod:`collector.importers.run` drives them through the
collector's Dask engine, ledger and finalize.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from collector.importers.base import BadInputError, DataError, ImportedSample, Importer, LocationRef

__all__ = [
    "IMPORTERS",
    "importer_class",
    "make_importer",
    "BadInputError",
    "DataError",
    "ImportedSample",
    "Importer",
    "LocationRef",
]

#: format name → (module, class)
IMPORTERS: dict[str, tuple[str, str]] = {
    "seco": ("collector.importers.geotiff", "SecoImporter"),
    "ssl4eo-s12": ("collector.importers.geotiff", "Ssl4eoImporter"),
    "ssl4eo-s12-zarr": ("collector.importers.zarr_zip", "Ssl4eoZarrImporter"),
}


def importer_class(name: str) -> Any:
    """The importer class of a format name.

    Raises:
        DataError: for an unknown name (the message lists the known ones).
    """
    if name not in IMPORTERS:
        raise DataError(f"unknown FORMAT {name!r}: choose one of {', '.join(IMPORTERS)}")
    module, cls = IMPORTERS[name]
    return getattr(importlib.import_module(module), cls)


def make_importer(name: str, level: str | None, data: Path | None = None) -> Importer:
    """An importer for ``level`` (``"L1C"``/``"L2A"``; None: what ``data`` holds)."""
    cls = importer_class(name)
    if level is None:
        level = cls.default_level(data) if data is not None else cls.levels[0]
    importer: Importer = cls(level.upper())
    return importer
