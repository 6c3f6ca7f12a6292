"""The store layout's version and the shape of a store: :class:`StoreSpec`.

A spec says how many samples, seasons and bands a store holds, its patch size and shard
size; :mod:`shared.layout.arrays` turns a spec and a layout version into every array's
definition, :mod:`shared.layout.array_names` names them and :mod:`shared.layout.encoding`
says what their values mean.

Version 2 adds per-sample pixel-centre coordinates ``x (sample, x)`` and ``y (sample, y)`` in
the sample CRS's units and CF attributes on every array (:mod:`shared.layout.cf`); version-1 stores
stay readable and ``python -m shared upgrade`` brings them to version 2 in place.

Version 3 keeps every band at the resolution Sentinel-2 measured it
(:mod:`shared.layout.native`): one image array per resolution group the store's bands need,
``pixels_10m (sample, season, band_10m, y, x)``, ``pixels_20m (…, band_20m, y_20m, x_20m)``
(``size/2`` a side) and ``pixels_60m (…, band_60m, y_60m, x_60m)`` (``size/6``), each with its
own band names and pixel-centre coordinates; ``cloud`` stays on the 10 m grid. The root
attribute ``bands`` keeps every band in the user's order and ``band_groups`` each band's group.
``upgrade`` turns a version-2 store into version 3 by exact decimation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from shared.layout.bands import COLLECTIONS, bands_for
from shared.layout.georef import CRS_UNITS
from shared.layout.native import check_size, group_bands, group_size

__all__ = [
    "LAYOUT_VERSION",
    "READABLE_VERSIONS",
    "ADDED_IN_V2",
    "StoreSpec",
    "software_version",
]

LAYOUT_VERSION = 3
#: Layout versions this software reads (and writes shards into); older ones upgrade in place.
READABLE_VERSIONS = (1, 2, 3)
#: Arrays that layout version 2 added (``python -m shared upgrade`` creates them).
ADDED_IN_V2 = ("x", "y")


def software_version() -> str:
    """Version of the installed distribution, or ``"unknown"`` when run from a bare checkout."""
    try:
        return f"seco-pipeline {version('seco-pipeline')}"
    except PackageNotFoundError:
        return "seco-pipeline unknown"


@dataclass(frozen=True)
class StoreSpec:
    """Shape of a store: how many samples, seasons, which bands, patch size, shard size."""

    n_samples: int
    n_seasons: int = 4
    bands: tuple[str, ...] = field(default_factory=lambda: tuple(b.name for b in bands_for("L1C")))
    size: int = 264
    shard_samples: int = 16
    collection: str = "L1C"
    resolution_m: float = 10.0
    #: names of land-cover classes when the store carries ground truth (synthetic stores)
    truth_classes: tuple[str, ...] = ()
    #: unit of every sample CRS's axes, as pyproj names it: ``"metre"`` (UTM) or ``"degree"``
    #: (EPSG:4326); sets the units of ``x``, ``y`` and ``transform``
    crs_units: str = "metre"

    def __post_init__(self) -> None:
        for name in ("n_samples", "n_seasons", "size", "shard_samples"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.collection not in COLLECTIONS:
            raise ValueError(
                f"collection must be one of {', '.join(COLLECTIONS)}, got {self.collection!r}"
            )
        known = [b.name for b in bands_for(self.collection)]
        object.__setattr__(self, "bands", tuple(self.bands))
        bad = [b for b in self.bands if b not in known]
        if not self.bands or bad:
            raise ValueError(
                f"bands must be a non-empty subset of {self.collection} bands {known}, got {list(self.bands)}"
            )
        if len(set(self.bands)) != len(self.bands):
            raise ValueError(f"bands repeat: {list(self.bands)}")
        if self.resolution_m <= 0:
            raise ValueError(f"resolution_m must be positive, got {self.resolution_m}")
        object.__setattr__(self, "truth_classes", tuple(self.truth_classes))
        if len(self.truth_classes) > 254:
            raise ValueError("at most 254 land-cover classes (255 is no data)")
        if self.crs_units not in CRS_UNITS:
            raise ValueError(
                f"crs_units must be one of {', '.join(CRS_UNITS)}, got {self.crs_units!r}"
            )

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Bands of each resolution group present (``"10m"``, ``"20m"``, ``"60m"``), in band order."""
        return group_bands(self.bands)

    def group_size(self, group: str) -> int:
        """Pixels a side of a resolution group's grid (``size``, ``size/2``, ``size/6``)."""
        return group_size(self.size, group)

    def check_native(self) -> None:
        """Raise ``ValueError`` unless ``size`` divides into the 20/60 m grids its bands need."""
        check_size(self.size, self.bands)

    @property
    def n_shards(self) -> int:
        return -(-self.n_samples // self.shard_samples)

    def shard_slice(self, shard: int) -> slice:
        """Sample range of one shard (the last one may be short)."""
        if not 0 <= shard < self.n_shards:
            raise IndexError(f"shard {shard} outside 0..{self.n_shards - 1}")
        start = shard * self.shard_samples
        return slice(start, min(start + self.shard_samples, self.n_samples))

    @property
    def has_truth(self) -> bool:
        return bool(self.truth_classes)

    def to_attrs(self) -> dict[str, Any]:
        d = asdict(self)
        d["bands"] = list(self.bands)
        d["band_groups"] = {b: g for g, bs in self.groups.items() for b in bs}
        d["truth_classes"] = list(self.truth_classes)
        return d

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> StoreSpec:
        return cls(
            n_samples=int(attrs["n_samples"]),
            n_seasons=int(attrs["n_seasons"]),
            bands=tuple(attrs["bands"]),
            size=int(attrs["size"]),
            shard_samples=int(attrs["shard_samples"]),
            collection=str(attrs["collection"]),
            resolution_m=float(attrs["resolution_m"]),
            truth_classes=tuple(attrs.get("truth_classes", ())),
            crs_units=str(attrs.get("crs_units", "metre")),  # version-1 stores: UTM only
        )
