"""Season windows: a seeded reference date per location and S windows spaced in months.

Season ``s`` of a location is centred on ``reference + offsets_months[s]`` (calendar months,
the day clipped to the month's end) and spans ``±window_days`` around it: ``[centre −
window_days, centre + window_days]``, stored as a half-open day range ``[start, end)``.
Defaults follow SeCo: 4 seasons 3 months apart, ±15-day windows; reference dates fall in a
span where Sentinel-2 L2A covers the globe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SeasonConfig", "add_months", "draw_reference_dates", "season_windows"]


@dataclass(frozen=True)
class SeasonConfig:
    """How seasons are placed in time. ``start``/``end`` bound the reference dates [start, end)."""

    n_seasons: int = 4
    offsets_months: tuple[int, ...] | None = None
    window_days: int = 15
    start: str = "2019-01-01"
    end: str = "2025-01-01"

    def __post_init__(self) -> None:
        if self.n_seasons < 1:
            raise ValueError(f"seasons must be ≥ 1, got {self.n_seasons}")
        if self.window_days < 1:
            raise ValueError(f"window_days must be ≥ 1, got {self.window_days}")
        offsets = self.offsets()
        if len(offsets) != self.n_seasons:
            raise ValueError(
                f"{len(offsets)} season offsets given for {self.n_seasons} seasons: "
                "give one offset (in months) per season"
            )
        if len(set(offsets)) != len(offsets):
            raise ValueError(f"season offsets repeat: {list(offsets)}")
        try:
            start, end = np.datetime64(self.start, "D"), np.datetime64(self.end, "D")
        except ValueError as e:
            raise ValueError(f"reference date range {self.start}..{self.end}: {e}") from e
        if start >= end:
            raise ValueError(f"reference date range is empty: start {start} ≥ end {end}")
        spacing = np.diff(sorted(offsets))
        if spacing.size and 2 * self.window_days + 1 > 28 * int(spacing.min()):
            raise ValueError(
                f"±{self.window_days}-day windows overlap for seasons "
                f"{int(spacing.min())} month(s) apart: use a smaller window"
            )

    def offsets(self) -> tuple[int, ...]:
        """Month offset of each season from the reference date."""
        if self.offsets_months is not None:
            return tuple(int(m) for m in self.offsets_months)
        return tuple(3 * s for s in range(self.n_seasons))


def add_months(dates: np.ndarray, months: int) -> np.ndarray:
    """``dates`` (datetime64[D]) shifted by whole calendar months, day clipped to month end."""
    d = np.asarray(dates, "datetime64[D]")
    month = d.astype("datetime64[M]")
    day = (d - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.timedelta64(months, "M")
    last_day = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    ) - 1
    return target.astype("datetime64[D]") + np.minimum(day, last_day).astype("timedelta64[D]")


def draw_reference_dates(rng: np.random.Generator, n: int, config: SeasonConfig) -> np.ndarray:
    """``n`` reference dates, uniform over ``[start, end)`` (datetime64[D])."""
    start = np.datetime64(config.start, "D")
    span = int((np.datetime64(config.end, "D") - start).astype(np.int64))
    return start + rng.integers(0, span, n).astype("timedelta64[D]")


def season_windows(reference: np.ndarray, config: SeasonConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` arrays of shape (n, seasons), datetime64[D], end exclusive."""
    ref = np.asarray(reference, "datetime64[D]")
    centres = np.stack([add_months(ref, m) for m in config.offsets()], axis=1)
    half = np.timedelta64(config.window_days, "D")
    return centres - half, centres + half + np.timedelta64(1, "D")
