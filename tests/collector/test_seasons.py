import numpy as np
import pytest

from collector.plan.seasons import SeasonConfig, add_months, draw_reference_dates, season_windows


def test_add_months_clips_to_month_end():
    d = np.array(["2021-01-31", "2020-01-31", "2021-11-30", "2021-03-15"], "datetime64[D]")
    assert add_months(d, 1).astype(str).tolist() == [
        "2021-02-28",
        "2020-02-29",
        "2021-12-30",
        "2021-04-15",
    ]
    assert add_months(d[:1], -3).astype(str).tolist() == ["2020-10-31"]


def test_windows_spacing_and_width():
    cfg = SeasonConfig(n_seasons=4, window_days=15)
    ref = draw_reference_dates(np.random.default_rng(0), 500, cfg)
    assert ref.min() >= np.datetime64("2019-01-01") and ref.max() < np.datetime64("2025-01-01")
    start, end = season_windows(ref, cfg)
    assert start.shape == (500, 4)
    assert np.all((end - start).astype(int) == 31)  # ±15 days around the centre, inclusive
    centres = start + np.timedelta64(15, "D")
    assert np.all(centres[:, 0] == ref)
    gaps = np.diff(centres, axis=1).astype(int)
    assert gaps.min() >= 89 and gaps.max() <= 92  # three calendar months
    assert np.all(start[:, 1:] >= end[:, :-1])  # windows never overlap


def test_custom_offsets():
    cfg = SeasonConfig(n_seasons=3, offsets_months=(0, -6, -12), window_days=10)
    start, _ = season_windows(np.array(["2022-07-10"], "datetime64[D]"), cfg)
    assert start.astype(str).tolist() == [["2022-06-30", "2021-12-31", "2021-06-30"]]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"n_seasons": 0}, "seasons"),
        ({"window_days": 0}, "window_days"),
        ({"n_seasons": 2, "offsets_months": (0, 3, 6)}, "one offset"),
        ({"n_seasons": 2, "offsets_months": (3, 3)}, "repeat"),
        ({"window_days": 50}, "overlap"),
        ({"start": "2024-01-01", "end": "2023-01-01"}, "empty"),
        ({"start": "not-a-date"}, "reference date"),
    ],
)
def test_invalid(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SeasonConfig(**kwargs)
