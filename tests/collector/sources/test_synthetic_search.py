"""Search: the revisit, the windows, the cloud statistics that make scene choice matter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from collector.sources.base import PermanentError, Scene
from collector.sources.synthetic import SyntheticSource
from collector.sources.synthetic.scenes import parse_scene_id
from collector.sources.synthetic.sites import make_locations, random_locations
from tests.collector.sources.synthetic_cases import clearest, locations_in

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def every_scene() -> SyntheticSource:
    return SyntheticSource(granule_cloud_max=100.0)


def test_scenes_lie_in_their_windows_on_a_5_day_revisit(every_scene):
    for loc in locations_in(20, (-60.0, 60.0), lon_range=(-179.0, 179.0), size=32):
        windows = every_scene.search(loc)
        assert len(windows) == loc.n_seasons
        for season, ((start, end), scenes) in enumerate(zip(loc.windows, windows, strict=True)):
            assert len(scenes) in (6, 7)  # a 31-day window, one pass every 5 days
            times = np.array([s.time for s in scenes], dtype="datetime64[ms]")
            assert np.all(times >= start) and np.all(times < end)
            gaps = np.diff(times.astype(np.int64))
            assert np.all(gaps == 5 * DAY_MS)  # ascending, exactly 5 days apart
            for s in scenes:
                assert s.season == season and 0 <= s.cloud_percent <= 100
                assert s.clear_fraction is not None and 0.0 <= s.clear_fraction <= 1.0
                tile, day = parse_scene_id(s.id)
                assert s.id.startswith("SYNTH_") and tile in s.id
                # ≈ 10:30 local solar time (of the tile's centre, within a degree or so)
                local_h = (s.time.astype(np.int64) % DAY_MS / 3.6e6 + loc.lon / 15.0) % 24
                assert abs(local_h - 10.5) < 0.25


def test_search_is_deterministic_and_ids_identify_scenes(every_scene):
    loc = locations_in(1, (45.0, 46.0), seed=4)[0]
    first, again = every_scene.search(loc), SyntheticSource(granule_cloud_max=100.0).search(loc)
    assert first == again
    ids = [s.id for w in first for s in w]
    assert len(set(ids)) == len(ids)


def test_granule_filter_drops_cloudy_granules(every_scene):
    filtered = SyntheticSource(granule_cloud_max=20.0)
    for loc in locations_in(30, (35.0, 55.0), size=32):
        kept, full = filtered.search(loc), every_scene.search(loc)
        for k, f in zip(kept, full, strict=True):
            assert all(s.cloud_percent <= 20.0 for s in k)
            assert k == [s for s in f if s.cloud_percent <= 20.0]


def test_choosing_the_clearest_scene_matters(every_scene):
    spreads = []
    for loc in locations_in(40, (30.0, 60.0), size=64):
        for scenes in every_scene.search(loc):
            clear = [s.clear_fraction for s in scenes]
            spreads.append(max(clear) - min(clear))
    assert np.mean(np.array(spreads) > 0.5) > 0.3  # often one scene is clear, another not


def test_rejection_rate_is_plausible_at_mid_latitudes():
    source = SyntheticSource()  # the real pipeline's 20 % granule pre-filter
    locs = random_locations(150, seed=11, lat_range=(35.0, 55.0), size=64)
    rejected = 0
    for loc in locs:
        chosen = clearest(source.search(loc))
        if chosen is None or min(s.clear_fraction or 0.0 for s in chosen) < 0.9:
            rejected += 1
    assert 0.05 <= rejected / len(locs) <= 0.30


def test_search_clear_fraction_predicts_the_fetched_one(every_scene):
    errors = []
    for loc in locations_in(40, (-50.0, 60.0), size=128, seed=2):
        windows = every_scene.search(loc)
        chosen = [w[len(w) // 2] for w in windows]  # not the clearest: any scene will do
        patch = every_scene.fetch(loc, chosen)
        errors += list(np.abs(patch.clear_fractions() - [s.clear_fraction for s in chosen]))
    errors_a = np.array(errors)
    assert np.percentile(errors_a, 90) < 0.02 and errors_a.max() < 0.1


def test_polar_night_has_no_scenes(every_scene):
    loc = make_locations([20.0], [75.0], np.datetime64("2021-12-20"), size=32, n_seasons=1)[0]
    assert every_scene.search(loc) == [[]]


def test_bad_requests(every_scene):
    loc = locations_in(1, (10.0, 11.0), size=32)[0]
    scenes = every_scene.search(loc)
    foreign = Scene(
        id="SYNTH_01N1001_20210101", time=scenes[0][0].time, season=0, cloud_percent=0.0
    )
    with pytest.raises(PermanentError, match="tile"):
        every_scene.fetch(loc, [foreign])
    with pytest.raises(PermanentError, match="synthetic scene id"):
        every_scene.fetch(loc, [replace(foreign, id="S2A_MSIL1C_20210101")])
    with pytest.raises(ValueError, match="at least one scene"):
        every_scene.fetch(loc, [])
    backwards = ((loc.windows[0][1], loc.windows[0][0]),)
    with pytest.raises(ValueError, match="start < end"):
        every_scene.search(replace(loc, windows=backwards))
