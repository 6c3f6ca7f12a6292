"""Sentinel-2 band tables for the two processing levels the store holds.

Centre wavelengths are Sentinel-2A's (nm); every band is stored resampled to the 10 m grid.
L1C (top-of-atmosphere) has 13 bands, L2A (surface reflectance) 12: B10 (cirrus) is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Band",
    "L1C_BANDS",
    "L2A_BANDS",
    "RGB",
    "COLLECTIONS",
    "bands_for",
    "band_names",
    "resolve_bands",
]


@dataclass(frozen=True)
class Band:
    """One Sentinel-2 band: name, native ground resolution (m), centre wavelength (nm)."""

    name: str
    resolution_m: int
    wavelength_nm: float
    description: str


L1C_BANDS: tuple[Band, ...] = (
    Band("B1", 60, 442.7, "coastal aerosol"),
    Band("B2", 10, 492.4, "blue"),
    Band("B3", 10, 559.8, "green"),
    Band("B4", 10, 664.6, "red"),
    Band("B5", 20, 704.1, "red edge 1"),
    Band("B6", 20, 740.5, "red edge 2"),
    Band("B7", 20, 782.8, "red edge 3"),
    Band("B8", 10, 832.8, "near infrared"),
    Band("B8A", 20, 864.7, "narrow near infrared"),
    Band("B9", 60, 945.1, "water vapour"),
    Band("B10", 60, 1373.5, "cirrus"),
    Band("B11", 20, 1613.7, "shortwave infrared 1"),
    Band("B12", 20, 2202.4, "shortwave infrared 2"),
)
L2A_BANDS: tuple[Band, ...] = tuple(b for b in L1C_BANDS if b.name != "B10")

#: Natural-colour subset in display order (red, green, blue).
RGB: tuple[str, ...] = ("B4", "B3", "B2")

#: Processing level name -> its band table.
COLLECTIONS: dict[str, tuple[Band, ...]] = {"L1C": L1C_BANDS, "L2A": L2A_BANDS}


def bands_for(collection: str) -> tuple[Band, ...]:
    """Band table of a processing level, ``"L1C"`` or ``"L2A"`` (case-insensitive)."""
    key = collection.upper()
    if key not in COLLECTIONS:
        raise ValueError(
            f"unknown collection {collection!r}: choose one of {', '.join(COLLECTIONS)}"
        )
    return COLLECTIONS[key]


def band_names(collection: str) -> tuple[str, ...]:
    """Names of all bands of a processing level, in store order."""
    return tuple(b.name for b in bands_for(collection))


def resolve_bands(spec: str | Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    """Turn ``"rgb"``, ``"all"`` or ``"B4,B3,B2"`` into band names, checked against ``available``.

    The order of an explicit list is kept (it is the channel order a model sees).
    """
    if isinstance(spec, str):
        key = spec.strip()
        if key.lower() == "rgb":
            names: Sequence[str] = RGB
        elif key.lower() == "all":
            names = tuple(available)
        else:
            names = [s.strip().upper() for s in key.split(",") if s.strip()]
    else:
        names = [s.upper() for s in spec]
    if not names:
        raise ValueError("empty band list: give 'rgb', 'all' or names such as B4,B3,B2")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(
            f"unknown band(s) {', '.join(unknown)}: this store has {', '.join(available)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"band list repeats a band: {', '.join(names)}")
    return tuple(names)
