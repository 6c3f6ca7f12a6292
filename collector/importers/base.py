"""What every importer of a published dataset shares: records, the protocol, the DN rules.

An importer turns one location of a dataset on disk into an :class:`ImportedSample` (all its
seasons, all bands on the 264-px grid as harmonized DN) or raises :class:`BadInputError` with
a one-line reason; the engine records the reason in ``report.json`` and leaves the slot
empty. An importer declares its own facts once (``name``, ``levels``, ``n_seasons``,
``provenance``); callers ask the class.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from shared.errors import OutsideFileError
from shared.layout.native import BandImages
from shared.outside import check_lonlat, safe_text

__all__ = [
    "BadInputError",
    "check_sample",
    "DataError",
    "ImportedSample",
    "Importer",
    "LocationRef",
    "SCENE_NAME",
    "parse_scene_name",
    "reflectance_uint8_to_dn",
    "offset_dn_to_dn",
]

#: Earth Engine ``system:index`` of a Sentinel-2 scene, as SeCo and SSL4EO-S12 name scene
#: folders: ``<sensing YYYYMMDDTHHMMSS>_<generation YYYYMMDDTHHMMSS>_T<MGRS tile>``.
SCENE_NAME = re.compile(r"^(\d{8}T\d{6})_(\d{8}T\d{6})_T(\d{2}[A-Z]{3})$")

#: The patch size of every published dataset here: 264 px at 10 m.
SIZE = 264


class DataError(ValueError):
    """``DATA`` cannot be imported at all (missing, empty, wrong format); exit code 2."""


class BadInputError(OutsideFileError):
    """One location cannot be imported; the message is the reason recorded in the report (the
    location is quarantined: skipped and listed, the import goes on)."""


@dataclass(frozen=True)
class LocationRef:
    """One location of a dataset: its id there and where its data lies.

    ``path`` is the location folder (GeoTIFF datasets) or the ``.zarr.zip`` file that holds
    it at position ``index`` (SSL4EO-S12 v1.1).
    """

    id: str
    path: str
    index: int = -1


@dataclass
class ImportedSample:
    """One location, ready for the store.

    pixels: uint16 harmonized DN (reflectance × 10⁴, 0 = no data) at each band's native
    resolution, :class:`~shared.layout.native.BandImages` with leading axis (seasons,);
    cloud: (seasons, 264, 264) uint8 in the store's encoding, or None (no mask: 255);
    clear: (seasons,) float32 clear fraction, NaN without a mask; time: (seasons,)
    datetime64[ms] UTC, oldest first; product_id: scene ids; lon, lat: centre (degrees);
    epsg, transform: the source's own grid (rasterio order).
    """

    pixels: BandImages
    cloud: np.ndarray | None
    clear: np.ndarray
    time: np.ndarray
    product_id: tuple[str, ...]
    lon: float
    lat: float
    epsg: int
    transform: tuple[float, float, float, float, float, float]


class Importer(Protocol):
    """A published dataset's reader; one class per format, chosen by name from a table."""

    name: ClassVar[str]
    title: ClassVar[str]
    levels: ClassVar[tuple[str, ...]]
    n_seasons: ClassVar[int]
    #: units of the samples' CRS: ``"degree"`` for lat/long georeferencing, ``"metre"`` for UTM
    crs_units: ClassVar[str]
    level: str

    @classmethod
    def default_level(cls, data: Path) -> str:
        """The processing level ``data`` holds when none is asked for."""
        ...

    def locations(self, data: Path, limit: int | None = None) -> list[LocationRef]:
        """The first ``limit`` (default all) locations under ``data`` in a deterministic order
        (raises :class:`DataError`)."""
        ...

    def read_many(self, refs: Sequence[LocationRef]) -> Iterator[ImportedSample | BadInputError]:
        """Each location read, or the reason it cannot be (never raises for bad data)."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Root attribute ``imported_from``: where the data came from and what changed."""
        ...


def parse_scene_name(name: str) -> tuple[np.datetime64, str] | None:
    """``"20190803T154559_20190803T154611_T18QVG"`` → (sensing time UTC, MGRS tile), or None."""
    m = SCENE_NAME.match(name)
    if m is None:
        return None
    s = m.group(1)
    iso = f"{s[0:4]}-{s[4:6]}-{s[6:8]}T{s[9:11]}:{s[11:13]}:{s[13:15]}"
    try:
        return np.datetime64(iso, "ms"), m.group(3)
    except ValueError:
        return None


def reflectance_uint8_to_dn(values: np.ndarray) -> np.ndarray:
    """SeCo's uint8 (reflectance 0–1 × 255) → float32 reflectance × 10⁴ (same grid).

    SeCo has no no-data value, so every pixel is data: results are clipped to ≥ 1 after
    resampling because 0 means no data in the store.
    """
    return np.asarray(values, np.float32) * np.float32(10_000 / 255)


def offset_dn_to_dn(values: np.ndarray, offset: int = 1000) -> np.ndarray:
    """SSL4EO-S12 v1.1's DN (+``offset`` for every scene) → harmonized DN, float32.

    A source 0 stays 0 (no data); everything else becomes ``max(value − offset, 1)``.
    """
    v = np.asarray(values, np.float32)
    return np.where(v == 0, 0, np.maximum(v - offset, 1)).astype(np.float32)


def check_sample(
    sample: ImportedSample, loc: str, n_seasons: int, n_bands: int, crs_units: str
) -> ImportedSample:
    """``sample`` if it can be written as it is, else :class:`BadInputError` naming ``loc``:
    pixel shape and dtype, finite lon/lat inside [-180, 180] × [-90, 90], an EPSG code pyproj
    knows whose axes are in ``crs_units``, a finite north-up transform with non-zero pixel
    size, and one known time per season."""
    from shared.layout.georef import crs_units as units_of

    shape = tuple(getattr(sample.pixels, "shape", ()))
    if not shape or shape[0] != n_seasons:
        raise BadInputError(
            f"{loc}: pixels of {shape[0] if shape else 0} seasons, expected {n_seasons}"
        )
    try:
        check_lonlat(loc, sample.lon, sample.lat)
    except OutsideFileError as e:
        raise BadInputError(str(e)) from e
    try:
        units = units_of(int(sample.epsg))
    except (ValueError, OverflowError, TypeError):
        raise BadInputError(
            f"{loc}: crs EPSG:{safe_text(sample.epsg, 20)} is not a known CRS"
        ) from None
    if units != crs_units:
        raise BadInputError(f"{loc}: crs EPSG:{sample.epsg} is in {units}, expected {crs_units}")
    t = np.asarray(sample.transform, np.float64)
    if t.shape != (6,) or not np.isfinite(t).all():
        raise BadInputError(f"{loc}: the grid's transform is not 6 finite numbers")
    if t[1] != 0 or t[3] != 0 or t[0] == 0 or t[4] == 0:
        raise BadInputError(f"{loc}: the grid is rotated or has a zero pixel size")
    times = np.asarray(sample.time)
    if times.shape != (n_seasons,) or np.isnat(times).any():
        raise BadInputError(
            f"{loc}: {n_seasons} acquisition times expected, found {times.tolist()}"
        )
    return sample
