"""The SeCo dataset contract: band tables, patch grids, the store layout and its readers.

Importable with numpy, zarr and xarray alone. Public names load lazily, so importing a
submodule (say ``shared.bands``) does not pull in zarr or xarray.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Band": "shared.bands",
    "L1C_BANDS": "shared.bands",
    "L2A_BANDS": "shared.bands",
    "RGB": "shared.bands",
    "band_names": "shared.bands",
    "resolve_bands": "shared.bands",
    "PatchGrid": "shared.grid",
    "utm_epsg": "shared.grid",
    "LAYOUT_VERSION": "shared.layout",
    "StoreSpec": "shared.layout",
    "Store": "shared.store",
    "create_store": "shared.store",
    "open_store": "shared.store",
    "ShardData": "shared.writer",
    "empty_shard": "shared.writer",
    "write_shard": "shared.writer",
    "StoreReader": "shared.reader",
    "open_dataset": "shared.view",
    "open_sample": "shared.sample",
    "verify": "shared.verify",
    "summarize": "shared.info",
    "SeasonalPatches": "shared.torch_dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'shared' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
