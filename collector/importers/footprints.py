"""The table ``finalize`` indexes an imported store by: footprints and nearest cities.

A collection's plan knows every footprint and city before anything is fetched; an import
learns them from the data. So after the shards are written this builds the same columns
(``candidate_id, city, country, geometry``) from the store itself: the footprint is the
patch grid's outline (``epsg`` + ``transform``) in lon/lat, the city is the nearest GeoNames
city of ≥ 15,000 inhabitants (named for orientation; the datasets were sampled around
cities, but the source does not record which).
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
from shapely.geometry import Polygon

__all__ = ["import_places", "footprint"]


def footprint(epsg: int, transform: np.ndarray, size: int) -> Polygon:
    """Outline of a ``size``-px grid in lon/lat (WGS 84)."""
    a, b, c, d, e, f = (float(v) for v in transform)
    cols = np.array([0, size, size, 0], np.float64)
    rows = np.array([0, 0, size, size], np.float64)
    x, y = a * cols + b * rows + c, d * cols + e * rows + f
    if epsg != 4326:
        from pyproj import Transformer

        x, y = Transformer.from_crs(epsg, 4326, always_xy=True).transform(x, y)
    return Polygon(zip(np.asarray(x), np.asarray(y), strict=True))


def import_places(
    size: int,
) -> Callable[[np.ndarray, dict[str, np.ndarray]], gpd.GeoDataFrame]:
    """The places finalize indexes an import by: from the live samples' columns (``epsg``,
    ``transform``, ``lon``, ``lat``, ``candidate_id``), each sample's footprint and nearest
    city."""

    def places(live: np.ndarray, columns: dict[str, np.ndarray]) -> gpd.GeoDataFrame:
        from scipy.spatial import cKDTree

        from collector.plan.cities import load_cities, unit_vectors

        lon, lat = columns["lon"], columns["lat"]
        epsg, transform = columns["epsg"], columns["transform"]
        city = country = np.array([], dtype=object)
        if live.size:
            cities = load_cities()
            tree = cKDTree(unit_vectors(cities["lon"].to_numpy(), cities["lat"].to_numpy()))
            _, nearest = tree.query(unit_vectors(lon, lat))
            city = cities["name"].to_numpy()[nearest]
            country = cities["country"].to_numpy()[nearest]
        return gpd.GeoDataFrame(
            {
                "candidate_id": np.asarray(columns["candidate_id"], np.int64),
                "city": city,
                "country": country,
            },
            geometry=[footprint(int(e), t, size) for e, t in zip(epsg, transform, strict=True)],
            crs="EPSG:4326",
        )

    return places
