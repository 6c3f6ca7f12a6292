"""Determinism, the Source protocol, land cover and its change events."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from collector.sources.base import Source
from collector.sources.synthetic import LANDCOVER_CLASSES, SyntheticSource, class_proportions
from collector.sources.synthetic.sites import make_locations
from shared.layout.native import BandImages
from tests.collector.sources.synthetic_cases import clearest, clearest_patches, locations_in
from tests.conftest import ROOT


def digest(patch) -> str:
    h = hashlib.sha256()
    pixels = patch.pixels
    images = list(pixels.arrays.values()) if hasattr(pixels, "arrays") else [pixels]
    for a in (*images, patch.cloud, *patch.extra.values()):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def fetch_first(source: SyntheticSource, lon: float, lat: float, size: int = 64):
    loc = make_locations([lon], [lat], np.datetime64("2021-05-20"), size=size)[0]
    windows = source.search(loc)
    chosen = [w[0] for w in windows]  # the earliest scene per window, cloudy or not
    return loc, source.fetch(loc, chosen)


def test_protocol_pickling_and_labels():
    src = SyntheticSource(
        collection="L2A", bands=["B4", "B3", "B2"], seed=3, granule_cloud_max=100.0
    )
    assert isinstance(src, Source)
    assert src.name == "synthetic" and src.synthetic is True and src.collection == "L2A"
    copy = pickle.loads(pickle.dumps(src))
    assert isinstance(copy, Source) and copy.bands == ("B4", "B3", "B2") and copy.seed == 3
    assert SyntheticSource().bands[-1] == "B12" and len(SyntheticSource().bands) == 13
    assert "B10" not in SyntheticSource(collection="L2A").bands
    loc, patch = fetch_first(src, 12.5, 41.9)
    assert all(s.id.startswith("SYNTH_") for s in patch.scenes)
    _, again = fetch_first(copy, 12.5, 41.9)
    assert digest(patch) == digest(again)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"collection": "L3"}, "collection"),
        ({"collection": "L2A", "bands": ["B10"]}, "bands"),
        ({"bands": ["B4", "B4"]}, "bands"),
        ({"seed": -1}, "seed"),
        ({"granule_cloud_max": 120}, "granule_cloud_max"),
        ({"change_rate": 2.0}, "change_rate"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticSource(**kwargs)


def test_same_inputs_same_bytes_also_in_a_fresh_process():
    src = SyntheticSource(granule_cloud_max=100.0)
    _, a = fetch_first(src, -3.7, 40.4)
    _, b = fetch_first(SyntheticSource(granule_cloud_max=100.0), -3.7, 40.4)
    assert digest(a) == digest(b)
    _, other_seed = fetch_first(SyntheticSource(granule_cloud_max=100.0, seed=1), -3.7, 40.4)
    assert digest(other_seed) != digest(a)
    script = textwrap.dedent(
        """
        from collector.sources.synthetic import SyntheticSource
        from tests.collector.sources.test_synthetic_world import digest, fetch_first
        print(digest(fetch_first(SyntheticSource(granule_cloud_max=100.0), -3.7, 40.4)[1]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == digest(a)


def test_band_subset_matches_the_full_fetch():
    full = SyntheticSource(granule_cloud_max=100.0)
    rgb = SyntheticSource(bands=("B4", "B3", "B2"), granule_cloud_max=100.0)
    _, a = fetch_first(full, 151.2, -33.9)
    _, b = fetch_first(rgb, 151.2, -33.9)
    idx = [full.bands.index(n) for n in ("B4", "B3", "B2")]
    assert isinstance(b.pixels, BandImages)  # 10 m bands only: native at any size
    assert not isinstance(a.pixels, BandImages)  # 64 px does not divide into 60 m pixels
    np.testing.assert_array_equal(a.pixels[:, idx], b.pixels.to_grid())
    np.testing.assert_array_equal(a.cloud, b.cloud)
    assert a.pixels.dtype == np.uint16 and a.cloud.dtype == np.uint8
    assert a.pixels.shape == (4, 13, 64, 64) and a.pixels.min() >= 1  # 0 would mean no data
    assert a.cloud.max() <= 100


@pytest.fixture(scope="module")
def changing():
    """Patches of a world where every location changes once."""
    src = SyntheticSource(granule_cloud_max=100.0, change_rate=1.0)
    return src, clearest_patches(src, locations_in(60, (-50.0, 60.0), lon_range=(-80.0, 120.0)))


def test_land_cover_holds_across_seasons_except_where_it_changed(changing):
    src, patches = changing
    n_changed = 0
    for p in patches:
        cover, mask = p.extra["landcover"], p.extra["change_mask"]
        assert cover.shape == mask.shape == p.cloud.shape and mask.dtype == bool
        assert not mask[0].any()  # the first season is the reference
        for s in range(1, cover.shape[0]):
            np.testing.assert_array_equal(cover[s][~mask[s]], cover[0][~mask[s]])
            assert np.all(cover[s][mask[s]] != cover[0][mask[s]])
            # a change, once made, stays
            assert not (mask[s - 1] & ~mask[s]).any()
        n_changed += int(mask[-1].any())
        shares = np.bincount(cover[0].ravel(), minlength=len(LANDCOVER_CLASSES)) / cover[0].size
        np.testing.assert_allclose(p.extra["landcover_fraction"], shares, atol=1e-6)
        assert p.extra["landcover_fraction"].dtype == np.float32
    assert n_changed >= 0.6 * len(patches)  # most locations find something to change


def test_changes_are_rare_at_the_default_rate():
    src = SyntheticSource(granule_cloud_max=100.0)
    locs = locations_in(120, (-50.0, 60.0), lon_range=(-80.0, 120.0))
    events = [src.change_event(loc) for loc in locs]
    rate = np.mean([e is not None for e in events])
    assert 0.1 < rate < 0.35
    none = SyntheticSource(change_rate=0.0)
    assert all(none.change_event(loc) is None for loc in locs[:20])


def test_land_cover_is_tied_to_the_ground():
    src = SyntheticSource()
    a, b = make_locations([10.0, 10.004], [50.0, 49.998], np.datetime64("2021-06-01"), size=96)
    assert a.epsg == b.epsg
    dx = round((b.transform[2] - a.transform[2]) / 10)  # b lies dx px east, dy px south of a
    dy = round((a.transform[5] - b.transform[5]) / 10)
    assert 0 < dx < 96 and 0 < dy < 96
    day = np.datetime64("2021-01-01")
    cover_a, cover_b = src.landcover(a, day), src.landcover(b, day)
    np.testing.assert_array_equal(cover_a[dy:, dx:], cover_b[: 96 - dy, : 96 - dx])
    assert len(np.unique(cover_a)) > 1  # the comparison spans a boundary between classes


def test_land_cover_follows_latitude():
    src = SyntheticSource()
    shares = {}
    for name, lat in {
        "tropics": (-10.0, 10.0),
        "desert belt": (20.0, 30.0),
        "temperate": (44.0, 52.0),
    }.items():
        locs = locations_in(40, lat, lon_range=(-60.0, 100.0), size=48)
        covers = np.stack([src.landcover(loc, loc.windows[0][0]) for loc in locs])
        shares[name] = np.bincount(covers.ravel(), minlength=8) / covers.size
    bare, snow = LANDCOVER_CLASSES.index("bare_soil"), LANDCOVER_CLASSES.index("snow_ice")
    evergreen = LANDCOVER_CLASSES.index("evergreen_forest")
    assert shares["desert belt"][bare] > 2 * shares["temperate"][bare]
    assert shares["tropics"][snow] == 0
    assert shares["tropics"][evergreen] > shares["desert belt"][evergreen]
    np.testing.assert_allclose(class_proportions(25.0).sum(), 1.0)
    with pytest.raises(ValueError, match="latitude"):
        class_proportions(95.0)


def test_landcover_method_agrees_with_fetch():
    src = SyntheticSource(granule_cloud_max=100.0, change_rate=1.0)
    loc = locations_in(1, (40.0, 41.0), seed=5)[0]
    chosen = clearest(src.search(loc))
    assert chosen is not None
    patch = src.fetch(loc, chosen)
    for s, scene in enumerate(chosen):
        np.testing.assert_array_equal(src.landcover(loc, scene.time), patch.extra["landcover"][s])


def test_20m_and_60m_bands_are_rendered_at_their_native_resolution(monkeypatch):
    """A 20/60 m pixel integrates the light of its whole footprint, as the sensor's does."""
    import collector.sources.synthetic.source as synth
    from shared.layout.native import BandImages

    seen = {}
    real = synth._sensor_pixels

    def keep(radiance, bands):
        seen["radiance"] = radiance.copy()
        return real(radiance, bands)

    monkeypatch.setattr(synth, "_sensor_pixels", keep)
    source = SyntheticSource(granule_cloud_max=100.0)
    _, patch = fetch_first(source, 151.2, -33.9, size=60)
    px = patch.pixels
    assert isinstance(px, BandImages) and px.shape == (4,)
    assert px.arrays["10m"].shape == (4, 4, 60, 60)
    assert px.arrays["20m"].shape == (4, 6, 30, 30) and px.arrays["60m"].shape == (4, 3, 10, 10)
    radiance = seen["radiance"]  # (S, 13, 60, 60) float DN on the 10 m grid
    b5 = radiance[:, source.bands.index("B5")].reshape(4, 30, 2, 30, 2).mean(axis=(2, 4))
    np.testing.assert_array_equal(px.band("B5"), b5.astype(np.uint16))
    b9 = radiance[:, source.bands.index("B9")].reshape(4, 10, 6, 10, 6).mean(axis=(2, 4))
    np.testing.assert_array_equal(px.band("B9"), b9.astype(np.uint16))
    np.testing.assert_array_equal(px.band("B4"), radiance[:, 3].astype(np.uint16))
    # an area mean, not one 10 m sample per block
    assert not np.array_equal(px.band("B5"), radiance[:, 4, ::2, ::2].astype(np.uint16))
    assert px.band("B5").min() >= 1


def test_a_synthetic_collection_stores_the_native_render_unchanged(tmp_path):
    from collector.cli import main
    from collector.plan.candidates import PLAN_FILE, read_plan
    from collector.run.ledger import Ledger
    from shared.store.handle import open_store
    from shared.store.reader import StoreReader
    from tests.conftest import collect_args

    out = tmp_path / "n.zarr"
    argv = collect_args(out, "--source", "synthetic", "--region", "europe", "--n", "4")
    assert main([*argv, "--size", "48", "--shard-samples", "4", "--seed", "3"]) == 0
    store = open_store(out)
    assert store.layout_version == 3 and {"pixels_20m", "pixels_60m"} <= set(
        store.group.array_keys()
    )
    reader = StoreReader(store)
    sample = int(np.flatnonzero(np.asarray(store.array("valid")[:]))[0])
    plan, _ = read_plan(out / PLAN_FILE)
    cid = int(store.array("candidate_id")[sample])
    (loc,) = [
        c.location
        for c in Ledger(store, plan, False).candidates(0)
        if c.location.candidate_id == cid
    ]
    ids = [str(v) for v in store.array("product_id")[sample]]
    source = SyntheticSource(granule_cloud_max=100.0)  # the world of --source synthetic
    scenes = [s for w in source.search(loc) for s in w if s.id in ids]
    scenes.sort(key=lambda s: ids.index(s.id))
    patch = source.fetch(loc, scenes)
    native = reader.native([sample])
    for group in ("10m", "20m", "60m"):
        np.testing.assert_array_equal(native.arrays[group][0], patch.pixels.arrays[group])
