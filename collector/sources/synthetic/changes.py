"""Change events: the only way the synthetic land cover moves between dates.

Some locations (``rate``, default a quarter) get one event between their first and last season
windows: new urban area, forest clearing, new cropland or flooding (a new reservoir). An
event has a footprint (a rectangle for built-up and farmed land, a ragged blob for clearing and
flooding), converts only the classes it can act on inside it, and holds from its day on. The
first season is always before the event, so the change mask of season 0 is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.sources.synthetic.climate import as_day
from collector.sources.synthetic.landcover import (
    BARE_SOIL,
    CROPLAND,
    DECIDUOUS_FOREST,
    EVERGREEN_FOREST,
    GRASSLAND,
    URBAN,
    WATER,
)

__all__ = ["CHANGE_KINDS", "ChangeEvent", "plan_change", "classes_at"]

#: kind → (class after the change, classes it can act on, rectangular footprint?)
CHANGE_KINDS: dict[str, tuple[int, tuple[int, ...], bool]] = {
    "urbanization": (
        URBAN,
        (CROPLAND, GRASSLAND, BARE_SOIL, DECIDUOUS_FOREST, EVERGREEN_FOREST),
        True,
    ),
    "clearing": (BARE_SOIL, (DECIDUOUS_FOREST, EVERGREEN_FOREST), False),
    "cultivation": (CROPLAND, (GRASSLAND, BARE_SOIL), True),
    "flooding": (WATER, (CROPLAND, GRASSLAND, BARE_SOIL), False),
}
_MIN_SHARE = 0.004  # an event must change at least this share of the patch


@dataclass(frozen=True)
class ChangeEvent:
    """One change: ``mask`` (N, N) bool pixels become class ``target`` from ``day`` on."""

    kind: str
    day: np.datetime64
    target: int
    mask: np.ndarray


def _footprint(
    rng: np.random.Generator, size: int, rectangle: bool, noise: np.ndarray
) -> np.ndarray:
    cy, cx = rng.uniform(0.15, 0.85, 2) * size
    ry, rx = rng.uniform(0.08, 0.25, 2) * size
    yy = (np.arange(size, dtype=np.float32)[:, None] - cy) / ry
    xx = (np.arange(size, dtype=np.float32)[None, :] - cx) / rx
    if rectangle:
        return (np.abs(yy) < 1) & (np.abs(xx) < 1)
    return yy * yy + xx * xx + 0.35 * noise < 1.0


def plan_change(
    rng_key: int,
    classes: np.ndarray,
    windows: tuple[tuple[np.datetime64, np.datetime64], ...],
    rate: float,
    noise: np.ndarray,
) -> ChangeEvent | None:
    """The location's change event, or ``None``; deterministic from ``rng_key``.

    ``classes`` (N, N) uint8 is the base land cover, ``noise`` (N, N) float32 a smooth field
    that roughens blob edges. The day falls between the end of the first window and the start
    of the last one (no event with fewer than two windows or when they overlap).
    """
    rng = np.random.default_rng(rng_key)
    draws = rng.random(3)
    if len(windows) < 2 or draws[0] >= rate:
        return None
    first_end = as_day(windows[0][1])
    last_start = as_day(windows[-1][0])
    span = int((last_start - first_end).astype(np.int64))
    if span < 1:
        return None
    day = first_end + np.timedelta64(int(draws[1] * span), "D")
    kinds = list(CHANGE_KINDS)
    order = rng.permutation(len(kinds))
    size = classes.shape[0]
    for i in order:
        kind = kinds[i]
        target, sources, rectangle = CHANGE_KINDS[kind]
        acts_on = np.zeros(256, dtype=bool)
        acts_on[list(sources)] = True
        eligible = acts_on[classes]
        if eligible.mean() < 0.03:
            continue
        mask = _footprint(rng, size, rectangle, noise) & eligible
        if mask.mean() >= _MIN_SHARE:
            return ChangeEvent(kind=kind, day=day, target=target, mask=mask)
    return None


def classes_at(classes: np.ndarray, event: ChangeEvent | None, day: np.datetime64) -> np.ndarray:
    """Land cover (N, N) uint8 on ``day``: the base map with the event applied once it happened."""
    if event is None or as_day(day) < event.day:
        return classes
    out = classes.copy()
    out[event.mask] = event.target
    return out
