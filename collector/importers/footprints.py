"""The table ``finalize`` indexes an imported store by: footprints and nearest cities.

A collection's plan knows every footprint and city before anything is fetched; an import
learns them from the data. So after the shards are written this builds the same columns
(``candidate_id, city, country, geometry``) from the store itself: the footprint is the
patch grid's outline (``epsg`` + ``transform``) in lon/lat, the city is the nearest GeoNames
city of ≥ 15,000 inhabitants (named for orientation; the datasets were sampled around
cities, but the source does not record which).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import Polygon

from collector.run.ledger import Ledger
from shared.access.view import sample_mask
from shared.store.handle import Store

__all__ = ["import_ledger", "footprint"]


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


def import_ledger(store: Store, created: bool) -> Ledger:
    """A :class:`~collector.run.ledger.Ledger` over ``store`` whose plan holds its live samples."""
    from scipy.spatial import cKDTree

    from collector.plan.cities import load_cities, unit_vectors

    spec = store.spec
    live = np.flatnonzero(
        sample_mask(
            store.done_shards(), np.asarray(store.array("valid")[:], bool), spec.shard_samples
        )
    )
    lon = np.asarray(store.array("lon")[:])[live]
    lat = np.asarray(store.array("lat")[:])[live]
    epsg = np.asarray(store.array("epsg")[:])[live]
    transform = np.asarray(store.array("transform")[:])[live]
    cand = np.asarray(store.array("candidate_id")[:])[live]
    city = country = np.array([], dtype=object)
    if live.size:
        cities = load_cities()
        tree = cKDTree(unit_vectors(cities["lon"].to_numpy(), cities["lat"].to_numpy()))
        _, nearest = tree.query(unit_vectors(lon, lat))
        city = cities["name"].to_numpy()[nearest]
        country = cities["country"].to_numpy()[nearest]
    plan = gpd.GeoDataFrame(
        {"candidate_id": cand.astype(np.int64), "city": city, "country": country},
        geometry=[footprint(int(e), t, spec.size) for e, t in zip(epsg, transform, strict=True)],
        crs="EPSG:4326",
    )
    return Ledger(store, plan, created)
