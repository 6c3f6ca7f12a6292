import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from collector.plan.sampling import (
    SamplingConfig,
    SamplingError,
    _draw,
    _Index,
    accept,
    sample_candidates,
)
from shared.layout.grid import footprints, snap_grids

GEOD = Geod(ellps="WGS84")


def cities(*rows):
    lon, lat, pop = np.array(rows, float).T
    return pd.DataFrame({"lon": lon, "lat": lat, "population": pop.astype(int)})


def overlapping_pairs(cand, size):
    """Independent check: denser footprints, all pairs whose footprints intersect or touch."""
    polys = footprints(cand.epsg, cand.transform, size, points_per_edge=8)
    b = shapely.bounds(polys)
    # also compare seam-crossing footprints shifted by a full turn
    shifted = shapely.transform(polys, lambda c: c - [360.0, 0.0])
    allp = np.concatenate([polys, shifted])
    owner = np.concatenate([np.arange(polys.size), np.arange(polys.size)])
    a, c = shapely.STRtree(allp).query(allp, predicate="intersects")
    a, c = owner[a], owner[c]
    assert b.shape[0] == polys.size
    return int(np.count_nonzero(a < c))


@pytest.mark.parametrize(
    "table,sigma",
    [
        (cities((2.35, 48.86, 2_000_000), (2.45, 48.80, 100_000), (2.20, 48.90, 50_000)), 20.0),
        (cities((25.72, 66.50, 60_000), (18.95, 69.65, 75_000), (33.08, 68.97, 300_000)), 12.0),
        (cities((-68.3, 72.0, 20_000), (-51.7, 64.2, 18_000)), 15.0),  # 72° N
    ],
    ids=["dense-paris-cluster", "arctic-cities", "greenland"],
)
def test_no_overlaps_dense_and_high_latitude(table, sigma):
    # about half of what random packing can fit: most draws are rejected, none may overlap
    cand = sample_candidates(
        table, 600, SamplingConfig(sigma_km=sigma, size=264), np.random.default_rng(1)
    )
    assert cand.lon.size == 600
    assert cand.rejected_overlap > cand.lon.size  # the clusters really are crowded
    assert overlapping_pairs(cand, 264) == 0


def test_no_overlaps_across_the_antimeridian():
    table = cities((179.99, -16.5, 50_000), (-179.99, -16.6, 50_000))
    cand = sample_candidates(table, 300, SamplingConfig(sigma_km=15.0), np.random.default_rng(2))
    assert (cand.lon > 0).any() and (cand.lon < 0).any()
    assert overlapping_pairs(cand, 264) == 0


def test_batched_acceptance_equals_the_sequential_rule():
    """Of two overlapping draws the earlier one survives, whatever the batch boundaries."""
    table = cities((10.0, 45.0, 1))
    _, lon, lat, _ = _draw(np.random.default_rng(5), table, 1200, SamplingConfig(sigma_km=3.0))
    epsg, tr = snap_grids(lon, lat, 64)
    polys = footprints(epsg, tr, 64, points_per_edge=1)
    expected: list[int] = []
    for i, p in enumerate(polys):  # brute force, one by one
        if not any(p.intersects(polys[j]) for j in expected):
            expected.append(i)
    assert 100 < len(expected) < 1100  # crowded enough for the rule to matter
    index, kept = _Index(), []
    for lo, hi in [(0, 100), (100, 700), (700, 1200)]:
        mask = accept(index, polys[lo:hi])
        index.add(polys[lo:hi][mask])
        kept += (np.flatnonzero(mask) + lo).tolist()
    assert kept == expected


@pytest.mark.parametrize("lat0", [0.0, 60.0])
def test_spread_matches_sigma(lat0):
    sigma = 50.0
    table = cities((20.0, lat0, 1))
    _, lon, lat, _ = _draw(np.random.default_rng(3), table, 10_000, SamplingConfig(sigma_km=sigma))
    dist_km = GEOD.inv(np.full_like(lon, 20.0), np.full_like(lat, lat0), lon, lat)[2] / 1000
    expected = sigma * np.sqrt(np.pi / 2)
    assert abs(dist_km.mean() / expected - 1) < 0.03
    # the longitude spread widens by 1/cos(lat): east-west and north-south spreads agree in km
    east = (lon - 20.0) * 111.32 * np.cos(np.radians(lat0))
    north = (lat - lat0) * 110.6
    assert abs(east.std() / north.std() - 1) < 0.05


def test_population_weighting():
    table = cities((0.0, 0.0, 9_000_000), (50.0, 0.0, 1_000_000))
    city, *_ = _draw(
        np.random.default_rng(4), table, 20_000, SamplingConfig(weighting="population")
    )
    assert abs((city == 0).mean() - 0.9) < 0.01
    city, *_ = _draw(np.random.default_rng(4), table, 20_000, SamplingConfig(weighting="uniform"))
    assert abs((city == 0).mean() - 0.5) < 0.02


def test_region_filter_and_determinism():
    table = cities((0.0, 0.0, 1), (10.0, 10.0, 1))

    def east_half(lon, lat):
        return lon > 0.0

    a = sample_candidates(table, 500, SamplingConfig(), np.random.default_rng(7), inside=east_half)
    b = sample_candidates(table, 500, SamplingConfig(), np.random.default_rng(7), inside=east_half)
    assert np.all(a.lon > 0) and a.rejected_region > 100
    np.testing.assert_array_equal(a.lon, b.lon)
    c = sample_candidates(table, 500, SamplingConfig(), np.random.default_rng(8), inside=east_half)
    assert not np.array_equal(a.lon, c.lon)


def test_impossible_density_is_refused():
    table = cities((0.0, 0.0, 1))
    with pytest.raises(SamplingError, match="too small or too crowded"):
        sample_candidates(
            table, 500, SamplingConfig(sigma_km=0.5, max_draws_factor=3), np.random.default_rng(0)
        )


def test_world_plan_of_thousands_has_no_overlaps():
    from collector.plan.cities import load_cities

    table = load_cities().head(10_000)
    cand = sample_candidates(table, 6000, SamplingConfig(), np.random.default_rng(9))
    assert cand.rejected_overlap > 0 and overlapping_pairs(cand, 264) == 0
