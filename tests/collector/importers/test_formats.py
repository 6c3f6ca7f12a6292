"""Each published layout imports into a valid store that keeps its values, dates and grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rasterio.transform import from_bounds

from collector.importers.testing import (
    dn_value,
    patch_bounds,
    scene_names,
    seco_value,
    zarr_sample_values,
)
from shared.checks.verify import verify
from shared.store.handle import open_store
from shared.store.reader import StoreReader


def _grid(store) -> np.ndarray:
    """Every band on the 10 m grid (20/60 m as blocks): constant images stay constant."""
    return StoreReader(store).pixels(np.arange(store.spec.n_samples))


def _times(store) -> np.ndarray:
    return np.asarray(store.array("time")[:]).astype("datetime64[ms]")


@pytest.mark.parametrize("fmt", ["seco", "ssl4eo-s12", "ssl4eo-s12-zarr"])
def test_imported_store_verifies_and_is_finalized(imported, fmt):
    report = verify(imported[fmt])
    assert report.ok, report.problems
    store = open_store(imported[fmt])
    assert store.source == fmt and not store.synthetic
    assert store.attrs["imported_from"]["format"] == fmt
    for name in ("index.parquet", "map.png", "preview.png", "report.json", "card.md"):
        assert (imported[fmt] / name).is_file(), name
    stats = store.attrs["stats"]
    assert stats["bands"] == list(store.spec.bands) and all(m > 0 for m in stats["mean"])


def test_seco_values_dates_and_grid(imported):
    store = open_store(imported["seco"])
    spec = store.spec
    assert (spec.n_seasons, spec.collection, spec.size) == (5, "L2A", 264)
    assert len(spec.bands) == 12 and "B10" not in spec.bands
    pixels = _grid(store)
    for loc in range(5):
        for season in range(5):
            for b in range(12):  # constant images: resampling and JPEG keep them exactly
                want = round(seco_value(loc, season, b) / 255 * 10_000)
                assert np.all(pixels[loc, season, b] == want), (loc, season, b)
        names = [n for n, _ in scene_names(loc, 5)]
        assert list(np.asarray(store.array("product_id")[loc])) == names  # oldest first
        times = _times(store)[loc]
        assert list(times) == [t for _, t in scene_names(loc, 5)]
    assert np.all(np.asarray(store.array("epsg")[:]) == 4326)
    want = from_bounds(*patch_bounds(2), 264, 264)
    np.testing.assert_allclose(store.array("transform")[2], tuple(want)[:6])
    assert np.all(np.asarray(store.array("cloud")[:]) == 255)
    assert np.all(np.isnan(np.asarray(store.array("clear_fraction")[:])))
    prov = store.attrs["imported_from"]
    assert prov["quantisation"] == "uint8 1/255 reflectance, JPEG"
    assert prov["folder"] == "seasonal_contrast_100k" and prov["resampling"].startswith("none")
    assert store.array("pixels_20m").shape[-1] == 132 and store.array("pixels_60m").shape[-1] == 44


def test_ssl4eo_v1_values_exact(imported):
    store = open_store(imported["ssl4eo-s12"])
    assert (store.spec.n_seasons, store.spec.collection, len(store.spec.bands)) == (4, "L1C", 13)
    pixels = _grid(store)
    for loc in range(4):
        for season in range(4):
            for b in range(13):
                assert np.all(pixels[loc, season, b] == dn_value(loc, season, b))
    lon, lat = np.asarray(store.array("lon")[:]), np.asarray(store.array("lat")[:])
    np.testing.assert_allclose(lon, [-75.0, -72.5, -70.0, -67.5], atol=1e-9)
    np.testing.assert_allclose(lat, [18.0, 19.5, 21.0, 22.5], atol=1e-9)


def test_ssl4eo_zarr_offset_grid_and_clouds(imported):
    store = open_store(imported["ssl4eo-s12-zarr"])
    assert store.spec.n_samples == 5 and store.spec.n_seasons == 4
    pixels = _grid(store)
    samples = [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]  # (file, sample in file)
    for k, (f, i) in enumerate(samples):
        for season in range(4):  # stored out of date order in the file; oldest first here
            for b in (0, 3, 12):
                assert np.all(pixels[k, season, b] == zarr_sample_values(f, i, season, b) - 1000)
    times = _times(store)
    assert np.all(np.diff(times.astype(np.int64), axis=1) > 0)
    epsg = np.asarray(store.array("epsg")[:])
    assert set(epsg.tolist()) <= {32632, 32633}
    a, b, c, d, e, f = store.array("transform")[0]
    assert (a, b, d, e) == (10.0, 0.0, 0.0, -10.0) and c % 10 == 0 and f % 10 == 0
    cloud = np.asarray(store.array("cloud")[0])
    assert set(np.unique(cloud).tolist()) == {0, 100}
    clear = np.asarray(store.array("clear_fraction")[0])
    # season s has 10 (s + 1) cloudy rows on top and 5 shadow rows at the bottom
    np.testing.assert_allclose(clear, [(264 - 10 * (s + 1) - 5) / 264 for s in range(4)])


def test_card_says_where_it_came_from_and_what_was_lost(imported):
    card = (imported["seco"] / "card.md").read_text()
    assert "## Provenance" in card
    for phrase in ("SeCo", "1/255 reflectance, JPEG", "native resolution", "no cloud mask"):
        assert phrase in card, phrase
    assert "## How it was collected" not in card  # not collected here: provenance instead
    zcard = (imported["ssl4eo-s12-zarr"] / "card.md").read_text()
    assert "1000" in zcard and "UTM" in zcard


def test_info_says_where_an_imported_store_came_from(imported):
    from shared.publish.info import format_summary, summarize

    text = format_summary(summarize(imported["seco"]))
    assert "imported from SeCo" in text and "SYNTHETIC" not in text


def test_rerun_of_a_finished_import_changes_nothing(imported, datasets, capsys):
    from collector.cli import main
    from tests.collector.importers.conftest import import_args

    path = imported["ssl4eo-s12"]
    before = {p: p.read_bytes() for p in sorted(path.glob("pixels_*/**/*")) if p.is_file()}
    assert main(import_args("ssl4eo-s12", datasets["ssl4eo-s12"], path)) == 0
    assert "0 shard(s) to do, 2 done" in capsys.readouterr().out
    after = {p: p.read_bytes() for p in sorted(path.glob("pixels_*/**/*")) if p.is_file()}
    assert before and before == after
    report = json.loads((path / "report.json").read_text())
    assert report["summary"]["filled"] == 4


def test_inventory_order_limit_and_levels(datasets):
    from pathlib import Path

    from collector.importers import make_importer

    zarr_data = datasets["ssl4eo-s12-zarr"]
    importer = make_importer("ssl4eo-s12-zarr", None, zarr_data)
    assert importer.level == "L1C"  # from the S2L1C modality folder
    refs = importer.locations(zarr_data, 4)
    stem = "train/S2L1C/ssl4eos12_train_seasonal_data_00000"
    assert [r.id for r in refs] == [f"{stem}1.zarr.zip:{i}" for i in range(3)] + [
        f"{stem}2.zarr.zip:0"
    ]
    seco = make_importer("seco", None, datasets["seco"])
    ids = [r.id for r in seco.locations(datasets["seco"])]
    assert ids == ["000000", "000001", "000002", "000003", "000004"]  # stray files ignored
    s2c: Path = datasets["ssl4eo-s12"]
    assert make_importer("ssl4eo-s12", None, s2c).level == "L1C"
    assert make_importer("ssl4eo-s12", None, s2c.parent).level == "L1C"
    assert len(make_importer("ssl4eo-s12", None, s2c.parent).locations(s2c.parent)) == 4


def test_published_132_and_44_px_bands_are_kept_byte_exact(tmp_path):
    """SSL4EO-S12 v1 with textured images: every 20/60 m band lands in the store as published
    (DN unchanged), not upsampled; SeCo's bands equal their DN mapping pixel for pixel."""
    import rasterio

    from collector.cli import main
    from collector.importers.base import reflectance_uint8_to_dn
    from collector.importers.resample import to_uint16
    from collector.importers.testing import write_geotiff_dataset
    from tests.collector.importers.conftest import import_args

    for fmt, kind, level in (("ssl4eo-s12", "ssl4eo", "L1C"), ("seco", "seco", "L2A")):
        data = write_geotiff_dataset(tmp_path / f"{kind}-src", kind, 2, level=level, texture=True)
        out = tmp_path / f"{kind}.zarr"
        assert main(import_args(fmt, data, out)) == 0
        store = open_store(out)
        native = StoreReader(store).native([0, 1])
        for loc, folder in enumerate(sorted(p for p in data.iterdir() if p.is_dir())):
            scenes = sorted(p for p in folder.iterdir() if p.is_dir())  # oldest first
            for season, scene in enumerate(scenes):
                for band in ("B5", "B8A", "B12", "B1", "B9", "B4"):
                    with rasterio.open(scene / f"{band}.tif") as src:
                        raw = src.read(1)
                    want = raw if kind == "ssl4eo" else to_uint16(reflectance_uint8_to_dn(raw))
                    got = native.band(band)[loc, season]
                    assert got.shape == raw.shape, (fmt, band)
                    assert np.array_equal(got, want), (fmt, loc, season, band)
