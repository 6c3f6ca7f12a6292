"""Upsampling 20 m and 60 m bands onto the 10 m grid, and the DN rules of each dataset."""

from __future__ import annotations

import numpy as np
import pytest

from collector.importers.base import offset_dn_to_dn, parse_scene_name, reflectance_uint8_to_dn
from collector.importers.resample import to_uint16, upsample_bilinear, upsample_mask


@pytest.mark.parametrize("n", [132, 44])
def test_bilinear_follows_a_ramp_between_pixel_centres(n):
    ramp = np.tile(np.arange(n, dtype=np.float32), (n, 1))  # value = column index
    out = upsample_bilinear(ramp, 264)
    centres = np.clip((np.arange(264) + 0.5) * n / 264 - 0.5, 0, n - 1)
    np.testing.assert_allclose(out[7], centres, atol=1e-4)
    np.testing.assert_allclose(out[:, 100], np.full(264, centres[100]), atol=1e-4)


def test_a_10m_band_is_not_touched_and_bad_shapes_are_refused():
    img = np.arange(264 * 264, dtype=np.float32).reshape(264, 264)
    assert np.array_equal(upsample_bilinear(img, 264), img)
    with pytest.raises(ValueError, match="cannot upsample a 300×300"):
        upsample_bilinear(np.zeros((300, 300)), 264)


def test_nodata_follows_the_nearest_pixel():
    mask = np.zeros((44, 44), bool)
    mask[0, 0] = True
    up = upsample_mask(mask, 264)
    assert up[:6, :6].all() and up.sum() == 36


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
