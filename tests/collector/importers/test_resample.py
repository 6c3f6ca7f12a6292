"""Native grids of a release published at 264 px, and the DN rules of each dataset."""

from __future__ import annotations

import numpy as np

from collector.importers.base import offset_dn_to_dn, parse_scene_name, reflectance_uint8_to_dn
from collector.importers.resample import to_native, to_uint16


def test_a_release_at_264_px_is_brought_to_native_grids_by_block_means():
    rng = np.random.default_rng(0)
    bands = ("B4", "B5", "B9")
    native20 = rng.integers(1, 9000, (2, 12, 12), dtype=np.uint16)
    native60 = rng.integers(1, 9000, (2, 4, 4), dtype=np.uint16)
    full = np.empty((2, 3, 24, 24), np.uint16)
    full[:, 0] = rng.integers(1, 9000, (2, 24, 24))
    full[:, 1] = native20.repeat(2, -2).repeat(2, -1)  # a release that repeated its pixels
    full[:, 2] = native60.repeat(6, -2).repeat(6, -1)
    got = to_native(full, bands)
    assert np.array_equal(got.band("B4"), full[:, 0])  # 10 m untouched
    assert np.array_equal(got.band("B5"), native20) and np.array_equal(got.band("B9"), native60)
    smooth = full.copy()
    smooth[0, 1, 0, 0] = 0  # one no-data pixel spoils its 2×2 block only
    smooth[0, 1, 0, 1] += 3
    got = to_native(smooth, bands)
    assert got.band("B5")[0, 0, 0] == 0 and np.array_equal(got.band("B5")[0, 1:], native20[0, 1:])


def test_dn_rules():
    assert to_uint16(np.array([-3.0, 0.4, 2.6, 70000.0])).tolist() == [1, 1, 3, 65535]
    assert to_uint16(np.array([5.0, 5.0]), np.array([True, False])).tolist() == [0, 5]
    np.testing.assert_allclose(reflectance_uint8_to_dn(np.array([0, 255], np.uint8)), [0, 10000])
    assert offset_dn_to_dn(np.array([0, 500, 1000, 2345])).tolist() == [0, 1, 1, 1345]


def test_scene_names():
    t, tile = parse_scene_name("20190803T154559_20190803T154611_T18QVG")
    assert t == np.datetime64("2019-08-03T15:45:59", "ms") and tile == "18QVG"
    assert parse_scene_name("20190803T154559_T18QVG") is None
    assert parse_scene_name("20191303T154559_20190803T154611_T18QVG") is None  # month 13
