"""The STAC source offline: catalogues, search, reading and choosing, against a local\nrange-capable server with tiny COGs and a STAC API (errors and signing: test_stac_errors.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from collector.run.choose import ChoiceRules, rank_windows
from collector.run.fill import collect_location, place_patch
from collector.sources import make_source
from collector.sources import preflight as sources_preflight
from collector.sources.base import PermanentError, Source, clear_fraction
from collector.sources.retry import RetryPolicy
from collector.sources.stac.catalogs import (
    CATALOGS,
    EARTH_SEARCH_ASSETS,
    PLANETARY_COMPUTER_ASSETS,
    dn_offset,
    harmonize,
    resolve_catalog,
    scl_to_cloud,
)
from collector.sources.stac.preflight import preflight
from collector.sources.stac.source import StacSource
from tests.collector.sources import stac_fixtures as fx
from tests.collector.sources.stac_cases import (
    L2A,
    MIXED,
    es_assets,
    es_item,
    es_source,
    pc_assets,
    pc_item,
    pc_source,
)

# -- catalogue table and options ----------------------------------------------------------------


def test_catalogue_table_and_input_checks():
    es, pc = CATALOGS["earth-search"], CATALOGS["planetary-computer"]
    assert es.url == "https://earth-search.aws.element84.com/v1"
    assert es.collection_id == "sentinel-2-c1-l2a" and es.offset == "raster-bands"
    assert not es.signed and es.assets["B8A"] == "nir08" and es.assets["SCL"] == "scl"
    assert pc.url == "https://planetarycomputer.microsoft.com/api/stac/v1"
    assert pc.collection_id == "sentinel-2-l2a" and pc.offset == "baseline" and pc.signed
    assert pc.assets["B8A"] == "B8A" and pc.assets["B1"] == "B01"
    for table in (EARTH_SEARCH_ASSETS, PLANETARY_COMPUTER_ASSETS):
        assert set(table) == set(L2A) | {"SCL"}
    with pytest.raises(ValueError, match="earth-search, planetary-computer"):
        resolve_catalog("earthsearch")
    with pytest.raises(ValueError, match="collection_id"):
        resolve_catalog("https://stac.example.org/v1")
    custom = resolve_catalog("https://stac.example.org/v1/", collection_id="s2")
    assert custom.url == "https://stac.example.org/v1" and custom.assets is None
    with pytest.raises(ValueError, match="offset rule"):
        resolve_catalog("earth-search", offset="guess")
    with pytest.raises(ValueError, match="L2A only"):
        StacSource("L1C")
    preflight({"catalog": "planetary-computer"})
    preflight({"catalog": "https://x.example/v1", "collection_id": "s2"})
    sources_preflight("stac", {"catalog": "earth-search"})
    with pytest.raises(ValueError, match="unknown STAC catalogue"):
        sources_preflight("stac", {"catalog": "nope"})
    with pytest.raises(ValueError, match="signer"):
        preflight({"catalog": "earth-search", "signer": "no.such.module:sign"})


def test_made_by_the_registry_is_a_picklable_source(stac):
    src = make_source("stac", "L2A", ("B4", "B3", "B2"), {"catalog": "planetary-computer"})
    assert isinstance(src, StacSource) and isinstance(src, Source)
    assert src.name == "stac" and not src.synthetic and src.bands == ("B4", "B3", "B2")
    assert src.catalog.name == "planetary-computer" and src.signer is not None
    assert src.granule_cloud_max == 20.0
    # after use, the clone carries settings only: no session, no cache; it still works
    stac.publish(es_item(stac, "ES_A", "2021-06-10T10:30:00Z", 3.0))
    es = es_source(stac, bands=("B4",))
    es.search(fx.location())
    assert es._client is not None and es._items
    clone = pickle.loads(pickle.dumps(es))
    assert clone._client is None and not clone._items and clone.catalog == es.catalog
    scenes = clone.search(fx.location())
    stac.state.log.clear()
    clone._items.clear()  # a fresh process: the item is looked up by id (one request)
    patch = clone.fetch(fx.location(), [scenes[0][0]])
    assert fx.on_grid(patch.pixels).shape == (1, 1, fx.SIZE, fx.SIZE)
    searches = stac.state.requests("/search")
    assert len(searches) == 1 and searches[0].body["ids"] == ["ES_A"]


# -- search -------------------------------------------------------------------------------------


def test_one_search_per_location_windows_and_scl_clear_fraction(stac):
    loc = fx.location(seasons=2)  # windows: 2021-06 and 2021-09
    stac.publish(
        es_item(stac, "JUN_CLEAR", "2021-06-05T10:30:00Z", 9.0),
        es_item(stac, "JUN_HALF", "2021-06-20T10:30:00Z", 1.0, scl="/scl/half.tif"),
        es_item(stac, "JUL_OUTSIDE", "2021-07-15T10:30:00Z", 0.5),
        es_item(stac, "SEP_CLEAR", "2021-09-30T23:59:59Z", 4.0),
        es_item(stac, "OCT_AFTER", "2021-10-01T00:00:00Z", 4.0),
        es_item(stac, "JUN_CLOUDY", "2021-06-07T10:30:00Z", 55.0),
    )
    src = es_source(stac)
    found = src.search(loc)
    searches = stac.state.requests("/search")
    assert len(searches) == 1  # one search covers every window
    body = searches[0].body
    assert body["collections"] == ["sentinel-2-c1-l2a"]
    assert body["datetime"] == "2021-06-01T00:00:00.000Z/2021-09-30T23:59:59.999Z"
    assert body["query"] == {"eo:cloud_cover": {"lte": 20.0}}
    assert body["sortby"] == [{"field": "properties.eo:cloud_cover", "direction": "asc"}]
    assert body["intersects"]["type"] == "Polygon"
    ring = np.array(body["intersects"]["coordinates"][0])
    lon, lat = fx.GRID.center()
    assert abs(ring[:, 0].mean() - lon) < 0.01 and abs(ring[:, 1].mean() - lat) < 0.01
    assert [[s.id for s in w] for w in found] == [["JUN_CLEAR", "JUN_HALF"], ["SEP_CLEAR"]]
    by_id = {s.id: s for w in found for s in w}
    assert by_id["JUN_CLEAR"].clear_fraction == 1.0
    assert by_id["JUN_HALF"].clear_fraction == 0.5  # SCL 8 over the top half of the patch
    assert by_id["JUN_HALF"].cloud_percent == 1.0 and by_id["SEP_CLEAR"].season == 1
    assert by_id["SEP_CLEAR"].time == np.datetime64("2021-09-30T23:59:59", "ms")
    assert src.requests["scl"] == 3
    # SCL is read at 20 m: the 16 × 16 square under the 32 × 32 patch
    assert src.grid(loc, 20.0).width == 16


def test_only_the_least_cloudy_scenes_are_measured(stac):
    stac.publish(
        *[es_item(stac, f"JUN_{c}", f"2021-06-{c + 1:02d}T10:00:00Z", float(c)) for c in range(6)]
    )
    src = es_source(stac, max_scenes_per_window=2)
    (june,) = src.search(fx.location(seasons=1))
    measured = {s.id for s in june if s.clear_fraction is not None}
    assert measured == {"JUN_0", "JUN_1"} and len(june) == 6
    assert src.requests["scl"] == 2


def test_paging_and_max_items(stac):
    stac.publish(
        *[es_item(stac, f"JUN_{i:03d}", "2021-06-10T10:00:00Z", i / 20) for i in range(150)]
    )
    src = es_source(stac, max_scenes_per_window=1)
    (june,) = src.search(fx.location(seasons=1))
    assert len(june) == 150 and len(stac.state.requests("/search")) == 2  # pages of 100
    capped = es_source(stac, max_scenes_per_window=1, max_items=30)
    (june,) = capped.search(fx.location(seasons=1))
    assert len(june) == 30 and max(s.cloud_percent for s in june) < 1.5  # the least cloudy


def test_items_without_a_needed_asset_are_skipped_and_a_missing_asset_is_named(stac):
    assets = es_assets(stac)
    del assets["nir"]
    stac.publish(
        es_item(stac, "NO_NIR", "2021-06-05T10:00:00Z", 1.0, assets=assets),
        es_item(stac, "FULL", "2021-06-06T10:00:00Z", 2.0),
    )
    src = es_source(stac)
    (june,) = src.search(fx.location(seasons=1))
    assert [s.id for s in june] == ["FULL"]
    no_nir = june[0].__class__("NO_NIR", np.datetime64("2021-06-05T10:00", "ms"), 0, 1.0)
    with pytest.raises(PermanentError, match="no asset 'nir' for band B8"):
        src.fetch(fx.location(seasons=1), [no_nir])


# -- reading: placement, offsets, clouds -------------------------------------------------------


def test_aligned_utm_read_is_exact_for_10_20_and_60_m_bands(stac):
    stac.publish(es_item(stac, "ES_A", "2021-06-10T10:30:00Z", 3.0))
    src = es_source(stac)
    loc = fx.location(seasons=1)
    (june,) = src.search(loc)
    patch = src.fetch(loc, june)
    assert patch.pixels.shape == (1, 12, fx.SIZE, fx.SIZE) and patch.pixels.dtype == np.uint16
    for j, band in enumerate(src.bands):
        want = fx.expected_band(band) - 1000  # c1: DN × 0.0001 − 0.1 → harmonized DN − 1000
        got = fx.on_grid(patch.pixels)[0, j].astype(float)
        assert np.array_equal(got, want), (band, np.abs(got - want).max())
    assert (patch.cloud == 0).all() and [s.id for s in patch.scenes] == ["ES_A"]


def test_each_cog_is_read_at_its_native_resolution_and_stored_unchanged(stac, tmp_path):
    """A patch whose size divides into 60 m pixels: every 20/60 m COG pixel under the patch
    arrives once, as published (no resampling), and the store holds it unchanged."""
    import dataclasses

    from shared.layout.spec import StoreSpec
    from shared.store.handle import create_store
    from shared.store.reader import StoreReader
    from shared.store.writer import empty_shard, write_shard

    stac.publish(es_item(stac, "ES_N", "2021-06-10T10:30:00Z", 3.0))
    src = es_source(stac)
    loc = dataclasses.replace(fx.location(seasons=1), size=36)
    patch = src.fetch(loc, src.search(loc)[0])
    assert patch.pixels.arrays["20m"].shape == (1, 6, 18, 18)
    assert patch.pixels.arrays["60m"].shape == (1, 2, 6, 6)  # L2A: B1, B9
    for band in src.bands:
        want = fx.expected_native(band, 36) - 1000
        assert np.array_equal(patch.pixels.band(band)[0], want), band
    spec = StoreSpec(
        n_samples=1, n_seasons=1, bands=src.bands, size=36, shard_samples=1, collection="L2A"
    )
    store = create_store(tmp_path / "s.zarr", spec, source="stac", synthetic=False)
    data = empty_shard(spec, 0)
    place_patch(data, 0, loc, patch, patch.clear_fractions())
    write_shard(store, 0, data)
    stored = StoreReader(store).native([0])
    for group, arr in patch.pixels.arrays.items():
        assert np.array_equal(stored.arrays[group][0], arr)


def test_offsets_planetary_computer_baselines_and_earth_search_c1(stac):
    dark = {"B02": "/utm/dark_B2.tif"}
    stac.publish(
        pc_item(stac, "PC_0301", "2021-06-05T10:00:00Z", 1.0, "03.01", **dark),
        pc_item(stac, "PC_0400", "2022-06-05T10:00:00Z", 1.0, "04.00", **dark),
        es_item(stac, "ES_C1", "2021-06-06T10:00:00Z", 1.0, blue="/utm/dark_B2.tif"),
    )
    src = pc_source(stac, bands=("B2", "B4", "B11"))
    loc_2021, loc_2022 = fx.location(1, "2021-06"), fx.location(1, "2022-06")
    old = src.fetch(loc_2021, src.search(loc_2021)[0])
    new = src.fetch(loc_2022, src.search(loc_2022)[0])
    es = es_source(stac, bands=("B2", "B4", "B11"))
    c1 = es.fetch(loc_2021, [s for s in es.search(loc_2021)[0] if s.id == "ES_C1"])
    for band in ("B4", "B11"):  # each at its native resolution (B11: 20 m)
        raw = fx.expected_native(band)
        assert np.array_equal(old.pixels.band(band)[0], raw)  # baseline 03.01: DN as stored
        assert np.array_equal(new.pixels.band(band)[0], raw - 1000)  # 04.00: DN − 1000
        assert np.array_equal(c1.pixels.band(band)[0], raw - 1000)  # c1: offset −0.1 / scale 0.0001
    raw_b2 = fx.expected_band("B2")
    for patch, offset in ((old, 0), (new, -1000), (c1, -1000)):
        b2 = fx.on_grid(patch.pixels)[0, 0]
        assert np.array_equal(b2[:4], raw_b2[:4] + offset)
        assert (b2[4:8] == (600 if offset == 0 else 1)).all()  # darker than the offset: 1
        assert (b2[8:12] == 0).all()  # no data stays 0
        assert np.array_equal(b2[12:], raw_b2[12:] + offset)


def test_offset_rules_in_one_place():
    t21, t22 = np.datetime64("2021-12-31T10:00", "ms"), np.datetime64("2022-01-25T10:00", "ms")
    assert dn_offset("baseline", {"s2:processing_baseline": "03.01"}, {}, t22) == 0
    assert dn_offset("baseline", {"s2:processing_baseline": "04.00"}, {}, t21) == -1000
    assert dn_offset("baseline", {"s2:processing_baseline": "05.11"}, {}, t22) == -1000
    assert dn_offset("baseline", {}, {}, t21) == 0 and dn_offset("baseline", {}, {}, t22) == -1000
    c1 = {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]}
    assert dn_offset("raster-bands", {}, c1, t21) == -1000
    stac11 = {"bands": [{"raster:scale": 0.0001, "raster:offset": 0.0}]}
    assert dn_offset("raster-bands", {"s2:processing_baseline": "05.00"}, stac11, t22) == 0
    assert dn_offset("raster-bands", {"s2:processing_baseline": "04.00"}, {}, t22) == -1000
    assert dn_offset("none", {"s2:processing_baseline": "05.00"}, c1, t22) == 0
    dn = np.array([0, 1, 999, 1000, 1001, 12000, 65535], np.uint16)
    assert harmonize(dn, -1000).tolist() == [0, 1, 1, 1, 1, 11000, 64535]
    assert harmonize(dn, 0).tolist() == dn.tolist()


def test_scl_becomes_the_cloud_mask_pixel_for_pixel(stac):
    stac.publish(es_item(stac, "MIXED", "2021-06-10T10:30:00Z", 3.0, scl="/scl/mixed.tif"))
    src = es_source(stac, bands=("B4",))
    loc = fx.location(seasons=1)
    (june,) = src.search(loc)
    cloud = src.fetch(loc, june).cloud[0]
    for row in range(fx.SIZE):
        scl = MIXED[(row // 2) % len(MIXED)]  # 20 m SCL rows cover two 10 m rows
        want = 255 if scl == 0 else 100 if scl in (3, 8, 9, 10) else 0
        assert (cloud[row] == want).all(), (row, scl)
    assert clear_fraction(cloud) == june[0].clear_fraction == 3 / 8
    assert scl_to_cloud(np.array([0, 1, 2, 3, 6, 7, 8, 9, 10, 11])).tolist() == [
        255,
        0,
        0,
        100,
        0,
        0,
        100,
        100,
        100,
        0,
    ]


def test_an_item_in_another_utm_zone_is_warped_onto_the_grid(stac):
    zone31 = es_item(
        stac, "ZONE31", "2021-06-10T10:30:00Z", 3.0, folder="/zone31", scl="/zone31/scl.tif"
    )
    stac.publish(zone31)
    src = es_source(stac, bands=("B4", "B11"))
    loc = fx.location(seasons=1)
    (june,) = src.search(loc)
    assert june[0].clear_fraction == 1.0
    patch = src.fetch(loc, june)
    r0, r1, c0, c1 = fx.SQUARE
    want = np.zeros((fx.SIZE, fx.SIZE), bool)
    want[r0:r1, c0:c1] = True
    for j in range(2):
        got = fx.on_grid(patch.pixels)[0, j] > 2500  # bright 4000 after the −1000 offset, else 200
        assert (fx.on_grid(patch.pixels)[0, j] > 0).all()
        assert np.count_nonzero(got != want) <= (r1 - r0) + (c1 - c0)  # only edge pixels differ
        rows, cols = np.nonzero(got)
        assert abs(rows.mean() - (r0 + r1 - 1) / 2) < 1 and abs(cols.mean() - (c0 + c1 - 1) / 2) < 1
        assert abs(int(fx.on_grid(patch.pixels)[0, j][0, 0]) - 200) <= 1


# -- choosing by SCL, end to end ---------------------------------------------------------------


def test_least_cloudy_scene_is_chosen_by_its_scl_not_its_granule_figure(stac):
    stac.publish(
        # June: the granule says 2 % but the patch is half cloud; the 15 % one is clear here
        es_item(stac, "JUN_LOW_GRANULE", "2021-06-05T10:00:00Z", 2.0, scl="/scl/half.tif"),
        es_item(stac, "JUN_CLEAR_PATCH", "2021-06-15T10:00:00Z", 15.0),
        es_item(stac, "SEP_ONLY", "2021-09-10T10:00:00Z", 7.0),
    )
    src = es_source(stac, bands=("B4", "B8"))
    loc = fx.location(seasons=2)
    rules = ChoiceRules(0.9, 20.0)
    ranked = rank_windows(src.search(loc), rules)
    assert [s.id for s in ranked[0]] == ["JUN_CLEAR_PATCH"]  # 0.5 clear is not viable
    src = es_source(stac, bands=("B4", "B8"))
    stac.state.log.clear()
    res = collect_location(src, loc, rules, RetryPolicy(3, 0.0, 0.0), sleep=lambda s: None)
    assert res.reason is None and not res.failed
    assert [s.id for s in res.patch.scenes] == ["JUN_CLEAR_PATCH", "SEP_ONLY"]
    assert res.clear.tolist() == [1.0, 1.0] and res.counters.retries == 0
    assert np.array_equal(fx.on_grid(res.patch.pixels)[1, 0], fx.expected_band("B4") - 1000)
    # requests: 1 search, 3 SCL reads, 2 scenes × (2 bands + SCL) reads; no item lookups
    assert src.requests == {"search": 1, "items": 0, "scl": 3, "bands": 6, "resigned": 0}
    assert len(stac.state.requests("/search")) == 1


def test_fetch_returns_exactly_the_given_scenes_in_order(stac):
    stac.publish(
        es_item(stac, "JUN_HALF", "2021-06-05T10:00:00Z", 2.0, scl="/scl/half.tif"),
        es_item(stac, "SEP_CLEAR", "2021-09-10T10:00:00Z", 7.0),
    )
    src = es_source(stac, bands=("B4",))
    loc = fx.location(seasons=2)
    (june,), (sep,) = src.search(loc)
    patch = src.fetch(loc, [sep, june])
    assert [s.id for s in patch.scenes] == ["SEP_CLEAR", "JUN_HALF"]
    assert patch.clear_fractions().tolist() == [1.0, 0.5]
    assert (patch.cloud[1, :16] == 100).all() and (patch.cloud[1, 16:] == 0).all()
    one = src.fetch(loc, [june])  # a refetch of one season
    assert fx.on_grid(one.pixels).shape == (1, 1, fx.SIZE, fx.SIZE) and one.scenes == (june,)


def test_cli_wiring(tmp_path, capsys):
    from collector.cli import build_parser, main
    from collector.cli.commands import collect_config

    def config(*extra):
        args = build_parser().parse_args(
            ["collect", "--n", "4", "--out", str(tmp_path / "s.zarr"), *extra]
        )
        return collect_config(args)

    cfg = config("--source", "stac", "--bands", "l2a", "--stac", "planetary-computer")
    assert cfg.source_options == {"catalog": "planetary-computer"}
    assert config("--source", "stac", "--bands", "l2a").source_options == {
        "catalog": "earth-search"
    }
    base = ["collect", "--n", "4", "--out", str(tmp_path / "x.zarr"), "--dry-run"]
    assert main([*base, "--source", "stac", "--bands", "l2a", "--stac", "earth-search"]) == 0
    assert main([*base, "--source", "stac", "--bands", "l1c"]) == 2
    assert main([*base, "--source", "earthengine", "--stac", "earth-search"]) == 2
    assert main([*base, "--source", "stac", "--bands", "l2a", "--stac", "earthsearch"]) == 2
    err = capsys.readouterr().err
    assert "use BANDS=l2a" in err and "--stac earth-search needs --source stac" in err
    assert "unknown STAC catalogue 'earthsearch'" in err
    assert not (tmp_path / "x.zarr").exists()


def test_any_stac_api_by_url_with_inferred_asset_names(stac):
    stac.publish(
        fx.item("ES_NAMES", "2021-06-05T10:00:00Z", 1.0, es_assets(stac), "s2", "05.00", -0.1),
        fx.item("PC_NAMES", "2021-09-05T10:00:00Z", 1.0, pc_assets(stac), "s2", "03.01"),
    )
    src = StacSource("L2A", ("B4", "B8A"), catalog=stac.url, collection_id="s2")
    assert src.catalog.assets is None and src.catalog.offset == "raster-bands"
    loc = fx.location(seasons=2)
    patch = src.fetch(loc, [w[0] for w in src.search(loc)])
    for band in ("B4", "B8A"):
        got = patch.pixels.band(band)
        assert np.array_equal(got[0], fx.expected_native(band) - 1000)  # raster:bands
        assert np.array_equal(got[1], fx.expected_native(band))  # baseline 03.01
    with pytest.raises(ValueError, match="no key for band"):
        StacSource(
            "L2A",
            ("B4", "B3"),
            catalog=stac.url,
            collection_id="s2",
            assets={"B4": "red", "SCL": "scl"},
        )
