"""The physics that matters, as statistics over many synthetic patches."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from collector.sources.synthetic import LANDCOVER_CLASSES, SyntheticSource
from tests.collector.sources.synthetic_cases import band, clearest, clearest_patches, locations_in

FOREST = [LANDCOVER_CLASSES.index("evergreen_forest"), LANDCOVER_CLASSES.index("deciduous_forest")]
WATER = LANDCOVER_CLASSES.index("water")
CLEAR_BELOW = 40


@pytest.fixture(scope="module")
def l1c() -> SyntheticSource:
    return SyntheticSource(granule_cloud_max=100.0)


def forest_ndvi(source, patches, season: int) -> np.ndarray:
    """Mean NDVI of clear forest pixels per patch in one season (NaN where there are none)."""
    out = []
    for p in patches:
        red, nir = band(p, source, "B4")[season], band(p, source, "B8")[season]
        ok = np.isin(p.extra["landcover"][season], FOREST) & (p.cloud[season] < CLEAR_BELOW)
        ndvi = (nir - red) / (nir + red)
        out.append(ndvi[ok].mean() if ok.sum() > 50 else np.nan)
    return np.array(out)


@pytest.mark.parametrize(
    ("lat_range", "summer", "winter"),
    [((38.0, 56.0), 2, 0), ((-45.0, -30.0), 0, 2)],
    ids=["north", "south"],
)
def test_forest_is_greener_in_local_summer(l1c, lat_range, summer, winter):
    # seasons centre on 15 January, April, July, October: July is summer in the north only
    patches = clearest_patches(l1c, locations_in(60, lat_range, lon_range=(-70.0, 40.0)))
    hot, cold = forest_ndvi(l1c, patches, summer), forest_ndvi(l1c, patches, winter)
    both = np.isfinite(hot) & np.isfinite(cold)
    assert both.sum() >= 10, "too few patches with clear forest in both seasons"
    assert np.mean(hot[both] > cold[both]) >= 0.9
    assert np.mean(hot[both]) - np.mean(cold[both]) > 0.1
    assert np.mean(hot[both]) > 0.6  # a dense green canopy in summer


@pytest.mark.parametrize("collection", ["L1C", "L2A"])
def test_clear_water_is_darker_in_nir_than_red(collection):
    source = SyntheticSource(collection=collection, granule_cloud_max=100.0)
    patches = clearest_patches(source, locations_in(60, (-40.0, 40.0), lon_range=(-60.0, 120.0)))
    red, nir, n = [], [], 0
    for p in patches:
        ok = (p.extra["landcover"] == WATER) & (p.cloud < CLEAR_BELOW)
        red.append(band(p, source, "B4")[ok])
        nir.append(band(p, source, "B8")[ok])
        n += int(ok.any())
    red_a, nir_a = np.concatenate(red), np.concatenate(nir)
    assert n >= 5 and red_a.size > 1000
    assert np.mean(nir_a < red_a) > 0.99
    swir = np.concatenate(
        [
            band(p, source, "B12")[(p.extra["landcover"] == WATER) & (p.cloud < CLEAR_BELOW)]
            for p in patches
        ]
    )
    assert np.median(swir) < np.median(nir_a)  # ever darker towards the SWIR


def test_clouds_are_bright_white_and_flagged(l1c):
    patches = clearest_patches(l1c, locations_in(80, (-60.0, 60.0), size=96))
    cloudy, clear, prob, green, swir = [], [], [], [], []
    for p in patches:
        vis = np.stack([band(p, l1c, b) for b in ("B2", "B3", "B4")])  # (3, S, N, N)
        cloudy.append(vis[:, p.cloud >= 99])
        clear.append(vis[:, p.cloud < 15])
        prob.append(p.cloud.ravel())
        green.append(vis[1].ravel())
        swir.append(band(p, l1c, "B11").ravel())
    cloud_px, clear_px = np.concatenate(cloudy, axis=1), np.concatenate(clear, axis=1)
    assert cloud_px.shape[1] > 1000, "the sample holds too few cloud pixels"
    assert np.all(np.median(cloud_px, axis=1) > 0.5)  # every visible band above 50 %
    assert np.mean(cloud_px.min(axis=0) > 0.3) > 0.95
    assert np.all(np.median(cloud_px, axis=1) > 4 * np.median(clear_px, axis=1))
    # the other way round: white in the visible and bright in the SWIR (a cloud, not snow)
    # is almost never called clear
    prob_a, green_a, swir_a = np.concatenate(prob), np.concatenate(green), np.concatenate(swir)
    white = (green_a > 0.5) & (swir_a > 0.3)
    assert white.sum() > 1000
    assert np.mean(prob_a[white] >= CLEAR_BELOW) > 0.95


def snow_share(source, patch) -> np.ndarray:
    """(seasons,) share of clear pixels that look like snow (NDSI > 0.4 and a bright green)."""
    green, swir = band(patch, source, "B3"), band(patch, source, "B11")
    ndsi = (green - swir) / (green + swir)
    clear = patch.cloud < CLEAR_BELOW
    snow = (ndsi > 0.4) & (green > 0.25) & clear
    return snow.sum(axis=(1, 2)) / np.maximum(clear.sum(axis=(1, 2)), 1)


def test_no_snow_in_tropical_lowlands(l1c):
    patches = clearest_patches(l1c, locations_in(60, (-15.0, 15.0), lon_range=(-70.0, 120.0)))
    assert len(patches) >= 40
    assert max(float(snow_share(l1c, p).max()) for p in patches) < 0.001


def test_snow_at_high_latitude_in_winter_not_in_summer(l1c):
    winter = (np.datetime64("2021-02-20"), np.datetime64("2021-03-20"))
    summer = (np.datetime64("2021-07-10"), np.datetime64("2021-08-10"))
    locs = [
        replace(loc, windows=(winter, summer))
        for loc in locations_in(60, (58.0, 68.0), lon_range=(5.0, 60.0))
    ]
    share = []
    for loc in locs:
        chosen = clearest(l1c.search(loc))
        if chosen is not None:
            share.append(snow_share(l1c, l1c.fetch(loc, chosen)))
    share_a = np.array(share)
    assert len(share_a) >= 40
    march, july = share_a.mean(axis=0)
    assert march > 0.3
    assert july < 0.05 and july < march / 6


def test_vegetation_red_edge_and_cirrus_band(l1c):
    patches = clearest_patches(l1c, locations_in(30, (40.0, 52.0)))
    summer = 2
    b5, b6, b7 = (
        np.concatenate([band(p, l1c, b)[summer][_green(p, l1c, summer)] for p in patches])
        for b in ("B5", "B6", "B7")
    )
    assert b5.size > 1000
    assert np.mean((b5 < b6) & (b6 < b7)) > 0.99
    b10 = np.concatenate([band(p, l1c, "B10")[p.cloud < 10] for p in patches])
    assert np.percentile(b10, 99) < 0.01  # the cirrus band is near zero over clear ground


def _green(p, source, season: int) -> np.ndarray:
    red, nir = band(p, source, "B4")[season], band(p, source, "B8")[season]
    return ((nir - red) / (nir + red) > 0.7) & (p.cloud[season] < CLEAR_BELOW)
