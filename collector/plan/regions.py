"""REGION: where to collect. One grammar, parsed in one place, with precise errors.

Forms (case-insensitive; comma-separated items of the first three kinds combine as a union):

- ``world``
- a continent by name or code: ``europe``/``EU``, ``africa``/``AF``, ``asia``/``AS``,
  ``north-america``/``NA``, ``south-america``/``SA``, ``oceania``/``OC``, ``antarctica``/``AN``
- ISO country codes, alpha-2 or alpha-3: ``FR``, ``FR,DE``, ``KEN``. The two-letter continent
  codes win over the countries that share them (Afghanistan, American Samoa, Namibia, Saudi
  Arabia): name those by alpha-3 (``AFG``, ``ASM``, ``NAM``, ``SAU``) or as ``country:NA``.
- a bounding box ``minlon,minlat,maxlon,maxlat`` in degrees; ``minlon > maxlon`` is a box that
  crosses the antimeridian (``170,-20,-170,-10``), accepted when it spans less than 180° of
  longitude (wider ones are taken for swapped coordinates and refused).
- a path to a vector file (GeoJSON, GeoPackage, shapefile) whose polygons are the region.

Country and continent membership of a point is that of its nearest GeoNames place (≥ 1,000
inhabitants) within ``MAX_PLACE_KM``: exact enough at borders where people live, and offline.
Sea near a coast counts for that coast's country; pass a vector file for exact boundaries.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from collector.plan.cities import load_countries, place_index

__all__ = ["Region", "RegionError", "parse_region", "CONTINENTS", "MAX_PLACE_KM"]

MAX_PLACE_KM = 100.0

CONTINENTS: dict[str, str] = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}
_CONTINENT_NAMES = {
    re.sub(r"[\s_-]+", "", name.lower()): code for code, name in CONTINENTS.items()
} | {"australia": "OC"}
_VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet", ".zip")
_NUMBER = r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"


class RegionError(ValueError):
    """REGION could not be understood; the message says what to write instead."""


@dataclass(frozen=True)
class Region:
    """A parsed REGION: a test of which lon/lat points are inside it."""

    text: str
    kind: str  # "world" | "areas" | "bbox" | "file"
    countries: frozenset[str] = frozenset()
    bbox: tuple[float, float, float, float] | None = None
    geometry: shapely.Geometry | None = field(default=None, compare=False)
    label: str = ""

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Boolean mask of the points inside the region."""
        lon = np.asarray(lon, float)
        lat = np.asarray(lat, float)
        if self.kind == "world":
            return np.ones(lon.shape, bool)
        if self.kind == "bbox":
            assert self.bbox is not None
            minlon, minlat, maxlon, maxlat = self.bbox
            wrapped = (lon + 180.0) % 360.0 - 180.0
            in_lon = (
                (wrapped >= minlon) & (wrapped <= maxlon)
                if minlon <= maxlon
                else (wrapped >= minlon) | (wrapped <= maxlon)
            )
            return in_lon & (lat >= minlat) & (lat <= maxlat)
        if self.kind == "file":
            assert self.geometry is not None
            return shapely.contains_xy(self.geometry, lon, lat)
        country, dist = place_index().nearest(lon.ravel(), lat.ravel())
        inside = np.isin(country, list(self.countries)) & (dist <= MAX_PLACE_KM)
        return inside.reshape(lon.shape)

    def cities_mask(self, country: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Which cities (given their own country code) lie in the region."""
        if self.kind == "areas":
            return np.isin(np.asarray(country), list(self.countries))
        return self.contains(lon, lat)

    def describe(self) -> str:
        return self.label or self.text


def parse_region(text: str) -> Region:
    """Parse a REGION string (see the module docstring); raises :class:`RegionError`."""
    if not isinstance(text, str) or not text.strip():
        raise RegionError(
            "REGION is empty: give world, a continent, country codes, a bbox or a file"
        )
    raw = text.strip()
    if raw.lower() == "world":
        return Region(raw, "world", label="the whole world")
    if _looks_like_path(raw):
        return _file_region(raw)
    items = [s.strip() for s in raw.split(",")]
    if len(items) == 4 and all(re.fullmatch(_NUMBER, s) for s in items):
        return _bbox_region(raw, [float(s) for s in items])
    if any(re.fullmatch(_NUMBER, s) for s in items):
        raise RegionError(
            f"REGION {raw!r}: a bounding box needs exactly 4 numbers minlon,minlat,maxlon,maxlat"
        )
    return _areas_region(raw, items)


def _looks_like_path(raw: str) -> bool:
    return (
        os.sep in raw
        or raw.startswith(".")
        or raw.lower().endswith(_VECTOR_SUFFIXES)
        or Path(raw).is_file()
    )


def _bbox_region(raw: str, v: list[float]) -> Region:
    minlon, minlat, maxlon, maxlat = v
    for name, lon in (("minlon", minlon), ("maxlon", maxlon)):
        if not -180 <= lon <= 180:
            raise RegionError(f"REGION bbox: {name} {lon:g} is outside [-180, 180]")
    for name, lat in (("minlat", minlat), ("maxlat", maxlat)):
        if not -90 <= lat <= 90:
            raise RegionError(f"REGION bbox: {name} {lat:g} is outside [-90, 90]")
    if minlat >= maxlat:
        raise RegionError(
            f"REGION bbox: minlat {minlat:g} must be below maxlat {maxlat:g} "
            "(order is minlon,minlat,maxlon,maxlat)"
        )
    if minlon == maxlon:
        raise RegionError(f"REGION bbox: minlon equals maxlon ({minlon:g}); the box has no width")
    if minlon > maxlon and (maxlon + 360 - minlon) >= 180:
        raise RegionError(
            f"REGION bbox: minlon {minlon:g} > maxlon {maxlon:g}; as a box crossing the "
            f"antimeridian it would span {maxlon + 360 - minlon:g} degrees of longitude: "
            "swap them (order is minlon,minlat,maxlon,maxlat)"
        )
    crossing = " (crosses the antimeridian)" if minlon > maxlon else ""
    return Region(raw, "bbox", bbox=(minlon, minlat, maxlon, maxlat), label=f"bbox {raw}{crossing}")


def _areas_region(raw: str, items: list[str]) -> Region:
    countries_table = load_countries()
    by_iso3 = {iso3: iso for iso, iso3 in countries_table["iso3"].items()}
    continent_of = countries_table["continent"]
    codes: set[str] = set()
    labels: list[str] = []
    for item in items:
        if not item:
            raise RegionError(f"REGION {raw!r}: empty item between commas")
        kind, _, value = item.partition(":") if ":" in item else ("", "", item)
        key = value.strip().upper()
        name_key = re.sub(r"[\s_-]+", "", value.lower())
        if kind.lower() not in ("", "country", "continent"):
            raise RegionError(f"REGION item {item!r}: prefix must be country: or continent:")
        if kind.lower() != "country" and (key in CONTINENTS or name_key in _CONTINENT_NAMES):
            code = key if key in CONTINENTS else _CONTINENT_NAMES[name_key]
            codes |= set(continent_of.index[continent_of == code])
            labels.append(CONTINENTS[code])
        elif kind.lower() != "continent" and key in countries_table.index:
            codes.add(key)
            labels.append(str(countries_table.loc[key, "name"]))
        elif kind.lower() != "continent" and key in by_iso3:
            codes.add(by_iso3[key])
            labels.append(str(countries_table.loc[by_iso3[key], "name"]))
        else:
            raise RegionError(
                f"REGION item {item!r} is not a continent ({', '.join(sorted(CONTINENTS))} or "
                "its name) nor an ISO country code (e.g. FR, KEN)"
            )
    return Region(raw, "areas", countries=frozenset(codes), label=", ".join(labels))


def _file_region(raw: str) -> Region:
    path = Path(raw).expanduser()
    if path.is_dir():
        raise RegionError(f"REGION {raw} is a folder: give a GeoJSON, GeoPackage or shapefile")
    if not path.is_file():
        raise RegionError(f"REGION file {raw} does not exist")
    try:
        import geopandas as gpd

        frame = gpd.read_file(path)
    except ImportError as e:
        raise RegionError(
            "REGION files need geopandas: pip install 'seco-pipeline[collect]'"
        ) from e
    except Exception as e:  # the readers raise many types for unreadable files
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RegionError(f"REGION file {raw} cannot be read as a vector file: {first}") from e
    if frame.empty:
        raise RegionError(f"REGION file {raw} holds no features")
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    polys = frame.geometry[frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    polys = polys[~polys.is_empty]
    if polys.empty:
        raise RegionError(
            f"REGION file {raw} holds no polygons (only {sorted(set(frame.geom_type))})"
        )
    geometry = shapely.make_valid(shapely.union_all(polys.to_numpy()))
    shapely.prepare(geometry)
    return Region(raw, "file", geometry=geometry, label=f"polygons of {path.name}")
