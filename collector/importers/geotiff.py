"""Per-band GeoTIFF folders: SeCo-100K / SeCo-1M and SSL4EO-S12 v1 (``s2c`` / ``s2a``).

Layout (both): ``DATA/<location>/<scene>/<band>.tif``, one folder per location (6 digits in
SeCo, 7 in SSL4EO-S12), one folder per scene named by its Earth Engine ``system:index``
(``<sensing>_<generation>_T<tile>``, not in date order on disk), one single-band GeoTIFF per
band at its native size (264 px at 10 m, 132 at 20 m, 44 at 60 m). Stray files (a preview
``<id>.tif``, ``metadata.json``) are ignored.

SeCo: 5 scenes, L2A (12 bands), uint8 = reflectance × 255 clipped to 0–1, JPEG-compressed,
``+proj=latlong``. SSL4EO-S12 v1: 4 scenes, L1C (``s2c``, 13 bands) or L2A (``s2a``, 12),
uint16 DN, EPSG:4326.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from collector.importers.base import (
    SIZE,
    BadInputError,
    DataError,
    ImportedSample,
    LocationRef,
    check_sample,
    parse_scene_name,
    reflectance_uint8_to_dn,
)
from collector.importers.resample import RESAMPLING, to_uint16
from shared.errors import OutsideFileError
from shared.layout.bands import band_names, bands_for
from shared.layout.native import BandImages
from shared.outside import read_raster

__all__ = ["GeoTiffFolders", "SecoImporter", "Ssl4eoImporter"]

#: pixels per side of a band at each native resolution, on the 264-px footprint
NATIVE_SIZE = {10: SIZE, 20: SIZE // 2, 60: SIZE // 6}


class GeoTiffFolders:
    """Shared reader of the per-band GeoTIFF layout; subclasses state their dataset's facts."""

    name: ClassVar[str]
    title: ClassVar[str]
    levels: ClassVar[tuple[str, ...]]
    n_seasons: ClassVar[int]
    crs_units: ClassVar[str]
    digits: ClassVar[int]
    dtype: ClassVar[type[np.integer]]

    def __init__(self, level: str) -> None:
        if level not in self.levels:
            raise DataError(
                f"--level {level.lower()}: {self.name} holds {', '.join(self.levels)} only"
            )
        self.level = level
        self.bands = band_names(level)
        self.native = {b.name: NATIVE_SIZE[b.resolution_m] for b in bands_for(level)}
        self._folder = re.compile(rf"^\d{{{self.digits}}}$")

    #: folder names of each level inside an extracted release (``s2c/``, ``s2a/``)
    level_folders: ClassVar[dict[str, str]] = {}

    @classmethod
    def default_level(cls, data: Path) -> str:
        """The level ``data`` holds when ``--level`` is not given."""
        for level, folder in cls.level_folders.items():
            if data.name == folder or (data / folder).is_dir():
                return level
        return cls.levels[0]

    # --- inventory -------------------------------------------------------------------------
    def locations(self, data: Path, limit: int | None = None) -> list[LocationRef]:
        """Location folders (``digits`` digits) under ``data``, sorted by name (the first
        ``limit``)."""
        if not data.is_dir():
            raise DataError(f"DATA {data} is not a folder")
        mine = self.level_folders.get(self.level)
        for level, folder in self.level_folders.items():
            if data.name == folder and level != self.level:
                raise DataError(f"DATA {data} holds {level}, not --level {self.level.lower()}")
        if mine and (data / mine).is_dir():
            data = data / mine
        with os.scandir(data) as entries:
            names = sorted(e.name for e in entries if self._folder.match(e.name) and e.is_dir())
        if not names:
            raise DataError(
                f"DATA {data} holds no {self.name} location folders ({self.digits}-digit names)"
            )
        return [LocationRef(n, str(data / n)) for n in names[:limit]]

    # --- one location ----------------------------------------------------------------------
    def read_many(self, refs: Sequence[LocationRef]) -> Iterator[ImportedSample | BadInputError]:
        for ref in refs:
            try:
                yield self.read(ref)
            except BadInputError as e:
                yield e
            except Exception as e:  # quarantine: one location never stops the import
                yield BadInputError(f"{ref.id}: unreadable ({type(e).__name__}: {str(e)[:100]})")

    def read(self, ref: LocationRef) -> ImportedSample:
        """All scenes of one location, oldest first (raises :class:`BadInputError`)."""
        folder = Path(ref.path)
        scenes = []
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            raise BadInputError(f"{ref.id}: folder unreadable ({e.strerror or e})") from e
        for entry in entries:
            parsed = parse_scene_name(entry.name)
            if parsed is not None and entry.is_dir():
                scenes.append((parsed[0], entry.name))
        if len(scenes) != self.n_seasons:
            raise BadInputError(
                f"{ref.id}: {len(scenes)} scene folder(s), expected {self.n_seasons}"
            )
        scenes.sort()
        per_band = {
            band: np.zeros((self.n_seasons, self.native[band], self.native[band]), np.uint16)
            for band in self.bands
        }
        grid: tuple[Any, Any] | None = None
        for s, (_, scene) in enumerate(scenes):
            for band in self.bands:
                values, georef = self._band(folder / scene, band, ref.id)
                if grid is None and self.native[band] == SIZE:
                    grid = georef
                per_band[band][s] = self._to_dn(values)  # at its published resolution
        pixels = BandImages.from_bands(per_band, SIZE)
        if grid is None:  # pragma: no cover - every level has 10 m bands
            raise BadInputError(f"{ref.id}: no 10 m band to take the grid from")
        epsg, transform, lon, lat = _georeference(*grid, ref.id)
        sample = ImportedSample(
            pixels=pixels,
            cloud=None,
            clear=np.full(self.n_seasons, np.nan, np.float32),
            time=np.array([t for t, _ in scenes], "datetime64[ms]"),
            product_id=tuple(name for _, name in scenes),
            lon=lon,
            lat=lat,
            epsg=epsg,
            transform=transform,
        )
        return check_sample(sample, ref.id, self.n_seasons, len(self.bands), self.crs_units)

    def _band(self, scene: Path, band: str, loc: str) -> tuple[np.ndarray, tuple[Any, Any]]:
        """One band's pixels and (crs, transform), its header checked before any pixel is read
        (size, band count, dtype: a sparse file declaring 100000² px is refused unread)."""
        path = scene / f"{band}.tif"
        where = f"{loc}/{scene.name}/{band}.tif"
        if not path.is_file():
            raise BadInputError(f"{where}: missing band file")
        n = self.native[band]
        try:
            values, crs, transform = read_raster(
                path,
                where=where,
                shape=(n, n),
                bands=1,
                dtypes=[np.dtype(self.dtype).name],
                georef=True,
            )
        except OutsideFileError as e:
            raise BadInputError(str(e)) from e
        return values, (crs, transform)

    def _to_dn(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def provenance(self) -> dict[str, Any]:
        raise NotImplementedError


def _georeference(
    crs: Any, transform: Any, loc: str
) -> tuple[int, tuple[float, float, float, float, float, float], float, float]:
    """(epsg, transform, lon, lat) of the 264-px grid as the file states it."""
    if crs is None:
        raise BadInputError(f"{loc}: the 10 m band has no CRS")
    epsg = crs.to_epsg()
    if epsg is None and crs.is_geographic:
        epsg = 4326  # "+proj=latlong" (SeCo) names no datum: WGS 84 is what Earth Engine used
    if epsg is None:
        raise BadInputError(f"{loc}: CRS {crs.to_string()[:60]} has no EPSG code")
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    cx, cy = a * SIZE / 2 + b * SIZE / 2 + c, d * SIZE / 2 + e * SIZE / 2 + f
    if crs.is_geographic:
        lon, lat = float(cx), float(cy)
    else:
        from pyproj import Transformer

        to_wgs84 = Transformer.from_crs(epsg, 4326, always_xy=True)
        lon, lat = (float(v) for v in to_wgs84.transform(cx, cy))
    return int(epsg), (a, b, c, d, e, f), lon, lat


class SecoImporter(GeoTiffFolders):
    """SeCo-100K / SeCo-1M (Mañas et al., ICCV 2021): 5 seasons, L2A, uint8 JPEG GeoTIFFs."""

    name = "seco"
    title = "SeCo (Seasonal Contrast) pre-training dataset"
    levels = ("L2A",)
    n_seasons = 5
    crs_units = "degree"
    digits = 6
    dtype = np.uint8

    def _to_dn(self, values: np.ndarray) -> np.ndarray:
        return to_uint16(reflectance_uint8_to_dn(values))  # no no-data in SeCo: every pixel ≥ 1

    def provenance(self) -> dict[str, Any]:
        return {
            "dataset": self.title,
            "format": self.name,
            "cite": "Mañas et al., Seasonal Contrast, ICCV 2021",
            "quantisation": "uint8 1/255 reflectance, JPEG",
            "dn_mapping": "DN = round(value / 255 × 10000), clipped to ≥ 1 (SeCo has no "
            "no-data value, so every pixel is data)",
            "resampling": RESAMPLING,
            "georeferencing": "the source's own lat/long grid (EPSG:4326 transform of the "
            "264-px patch, approximate: the pixels were taken on a UTM grid)",
            "cloud_mask": "no cloud mask in the source: cloud = 255 (no data), clear_fraction NaN",
            "seasons": "the 5 scenes of each location, oldest first",
            "time_and_product_id": "from the scene folder names <sensing>_<generation>_T<tile>",
        }


class Ssl4eoImporter(GeoTiffFolders):
    """SSL4EO-S12 v1 (Wang et al., 2023) ``s2c`` / ``s2a``: 4 seasons, uint16 DN GeoTIFFs."""

    name = "ssl4eo-s12"
    title = "SSL4EO-S12 v1 (Sentinel-2 part)"
    levels = ("L1C", "L2A")
    n_seasons = 4
    crs_units = "degree"
    digits = 7
    dtype = np.uint16
    level_folders = {"L1C": "s2c", "L2A": "s2a"}

    def _to_dn(self, values: np.ndarray) -> np.ndarray:
        return to_uint16(values, values == 0)  # the published DN, unchanged

    def provenance(self) -> dict[str, Any]:
        return {
            "dataset": self.title,
            "format": self.name,
            "cite": "Wang et al., SSL4EO-S12, IEEE GRSM 2023",
            "quantisation": "none (uint16 DN as published)",
            "dn_mapping": "DN kept as published (0 = no data); the files carry no processing "
            "baseline, so an offset of scenes processed with baseline ≥ 04.00 cannot be undone",
            "resampling": RESAMPLING,
            "georeferencing": "the source's own EPSG:4326 grid of the 264-px patch",
            "cloud_mask": "no cloud mask in the source: cloud = 255 (no data), clear_fraction NaN",
            "seasons": "the 4 scenes of each location, oldest first",
            "time_and_product_id": "from the scene folder names <sensing>_<generation>_T<tile>",
        }
