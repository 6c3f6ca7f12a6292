"""The SeCo dataset contract: band tables, patch grids, the store layout and its readers.

Importable with numpy, zarr and xarray alone. Public names load lazily, so importing a
submodule (say ``shared.layout.bands``) does not pull in zarr or xarray.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Band": "shared.layout.bands",
    "L1C_BANDS": "shared.layout.bands",
    "L2A_BANDS": "shared.layout.bands",
    "RGB": "shared.layout.bands",
    "band_names": "shared.layout.bands",
    "resolve_bands": "shared.layout.bands",
    "PatchGrid": "shared.layout.grid",
    "utm_epsg": "shared.layout.grid",
    "LAYOUT_VERSION": "shared.layout.spec",
    "StoreSpec": "shared.layout.spec",
    "Store": "shared.store.handle",
    "create_store": "shared.store.handle",
    "open_store": "shared.store.handle",
    "ShardData": "shared.store.writer",
    "empty_shard": "shared.store.writer",
    "write_shard": "shared.store.writer",
    "StoreReader": "shared.store.reader",
    "open_dataset": "shared.access.view",
    "open_sample": "shared.access.sample",
    "verify": "shared.checks.verify",
    "summarize": "shared.publish.info",
    "SeasonalPatches": "shared.access.torch_dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'shared' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
