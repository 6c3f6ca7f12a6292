"""The synthetic world's helpers: demo locations and the preview picture."""

from __future__ import annotations

import numpy as np
import pytest

from collector.sources.synthetic import SyntheticSource
from collector.sources.synthetic.preview import preview_figure, rgb_image, save_small_png
from collector.sources.synthetic.sites import make_locations, random_locations


def test_random_locations_are_seeded_and_on_the_grid():
    a, b = random_locations(5, seed=1, size=32), random_locations(5, seed=1, size=32)
    assert a == b and a != random_locations(5, seed=2, size=32)
    assert all(loc.transform[0] == 10.0 and loc.transform[2] % 10 == 0 for loc in a)
    with pytest.raises(ValueError, match="shape"):
        make_locations([1.0, 2.0], [3.0], np.datetime64("2021-01-01"))


def test_preview_picture(tmp_path):
    source = SyntheticSource(granule_cloud_max=100.0)
    loc = make_locations([2.35], [48.85], np.datetime64("2021-01-15"), size=32, n_seasons=2)[0]
    fig = preview_figure(source, [loc], ["Paris-like"])
    assert len(fig.axes) == 2
    save_small_png(fig, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    patch = source.fetch(loc, [w[0] for w in source.search(loc)])
    rgb = rgb_image(patch.pixels[0], source.bands)
    assert rgb.shape == (32, 32, 3) and rgb.min() >= 0.0 and rgb.max() <= 1.0
