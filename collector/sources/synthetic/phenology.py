"""Seasonal state of vegetation and crops: which endmembers make up each surface on a date.

A *unit* is a group of pixels that share one spectrum on a given date: a (class, variant)
pair for natural classes and urban, or one crop parcel. :func:`unit_weights` returns, per unit,
weights over the endmembers of ``spectra`` (rows may sum below 1: the missing part is canopy
shadow). Drivers, per date:

- deciduous forest: leaves follow air temperature (leaf-off below ≈ 10 °C, full above ≈ 18 °C)
  and drop in a severe (tropical) dry season, not in a Mediterranean summer; variants shift the timing a little;
- evergreen forest: needle-leaf outside the tropics, broadleaf inside; a mild winter dip;
- grassland: green when warm *and* moist, straw-coloured in winter or a dry season;
- cropland: each parcel runs a calendar — bare soil, sowing, growth to a green peak,
  senescence, harvest back to stubble and soil. Summer crops are sown in spring; winter
  crops in autumn, green through a mild winter and harvested in early summer; near the
  equator two cycles a year at any phase.
Snow is not handled here but per pixel by the renderer (it depends on the pixel's elevation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.sources.synthetic.climate import moisture, temperature
from collector.sources.synthetic.hashing import hash_uniform
from collector.sources.synthetic.landcover import (
    BARE_SOIL,
    CROPLAND,
    DECIDUOUS_FOREST,
    EVERGREEN_FOREST,
    GRASSLAND,
    N_VARIANTS,
    SNOW_ICE,
    URBAN,
    WATER,
)

__all__ = ["N_NATURAL_UNITS", "Climate", "unit_weights"]

GREEN, NEEDLE, DRY, LITTER, SOIL, WATER_EM, URBAN_EM, ROCK = range(8)
N_ENDMEMBERS = 8
#: Units 0 … N_NATURAL_UNITS-1 are ``class * N_VARIANTS + variant``; parcels follow.
N_NATURAL_UNITS = 8 * N_VARIANTS


@dataclass(frozen=True)
class Climate:
    """The climate of one place: latitude (degrees) and regional traits in [0, 1]."""

    lat: float
    continentality: float
    dry_summer: float

    def temperature(self, doy_h: float | np.ndarray) -> np.ndarray:
        """Lowland air temperature (°C) on hemisphere day ``doy_h``."""
        return temperature(self.lat, np.asarray(doy_h), self.continentality)

    def moisture(self, doy_h: float | np.ndarray) -> np.ndarray:
        """Plant-available moisture in [0, 1] on hemisphere day ``doy_h``."""
        return moisture(self.lat, np.asarray(doy_h), self.dry_summer)


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((np.asarray(x, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _natural(climate: Climate, doy_h: float) -> np.ndarray:
    """(8 * N_VARIANTS, E) weights of the non-crop units."""
    w = np.zeros((8, N_VARIANTS, N_ENDMEMBERS))
    shift = (np.arange(N_VARIANTS) - (N_VARIANTS - 1) / 2) * 6.0  # days earlier/later
    temp = climate.temperature(doy_h - shift)
    moist = climate.moisture(doy_h - shift)
    tropical = float(_ramp(np.array(25.0 - abs(climate.lat)), 0.0, 10.0))

    w[WATER, :, WATER_EM] = 1.0
    # evergreen: needle-leaf (temperate/boreal) or broadleaf (tropics), a mild winter dip
    vigour = 0.82 + 0.18 * _ramp(temp, 5.0, 20.0)
    w[EVERGREEN_FOREST, :, NEEDLE] = (1 - tropical) * vigour
    w[EVERGREEN_FOREST, :, GREEN] = tropical * vigour * 0.85
    w[EVERGREEN_FOREST, :, LITTER] = 1 - vigour
    # deciduous: leaves with warmth, lost in a strong dry season
    leaf = _ramp(temp, 10.0, 18.0) * _ramp(moist, 0.15, 0.45)
    w[DECIDUOUS_FOREST, :, GREEN] = 0.9 * leaf
    w[DECIDUOUS_FOREST, :, LITTER] = 0.9 * (1 - leaf)
    # grassland: green when warm and moist, straw otherwise
    green = 0.12 + 0.88 * np.minimum(_ramp(temp, 2.0, 13.0), _ramp(moist, 0.25, 0.8))
    w[GRASSLAND, :, GREEN] = green
    w[GRASSLAND, :, DRY] = 0.8 * (1 - green)
    w[GRASSLAND, :, SOIL] = 0.2 * (1 - green)
    # towns: sealed surfaces with gardens and trees, from dense centres to leafy suburbs
    gardens = 0.12 + 0.14 * np.arange(N_VARIANTS)
    w[URBAN, :, URBAN_EM] = 1 - gardens
    w[URBAN, :, GREEN] = gardens * green
    w[URBAN, :, DRY] = gardens * (1 - green)
    # bare ground: soil, some rockier variants, a little dead vegetation
    rock = np.arange(N_VARIANTS) / (N_VARIANTS - 1) * 0.45
    w[BARE_SOIL, :, SOIL] = 0.92 - rock
    w[BARE_SOIL, :, ROCK] = rock
    w[BARE_SOIL, :, DRY] = 0.08
    # snow/ice-prone high ground: rock when snow-free (snow is added per pixel)
    w[SNOW_ICE, :, ROCK] = 0.9
    w[SNOW_ICE, :, DRY] = 0.1
    # cropland pixels use their parcel's unit; this row is a fallback only
    w[CROPLAND, :, SOIL] = 1.0
    return w.reshape(8 * N_VARIANTS, N_ENDMEMBERS)


def _crop_cycle(
    day: np.ndarray, sow: np.ndarray, grow: np.ndarray, ripen: np.ndarray, period: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Green cover, dry cover (senescent crop or stubble) and soil of parcels on a day."""
    t = (day - sow) % period
    growing = t < grow
    ripening = ~growing & (t < grow + ripen)
    fallow = ~growing & ~ripening
    g = np.where(growing, _ramp(t, 0.0, np.maximum(grow, 1.0)), 0.0)
    r = _ramp(t - grow, 0.0, np.maximum(ripen, 1.0))
    g = np.where(ripening, 1.0 - r, g)
    d = np.where(ripening, r, 0.0)
    since = t - grow - ripen
    d = np.where(fallow, 0.45 * np.exp(-since / 35.0), d)
    return g, d, 1.0 - g - d


def _crops(climate: Climate, doy_h: float, key: int, parcel_keys: np.ndarray) -> np.ndarray:
    """(P, E) weights of the crop parcels."""
    n = parcel_keys.shape[0]
    if n == 0:
        return np.zeros((0, N_ENDMEMBERS))
    jy, jx = parcel_keys[:, 0], parcel_keys[:, 1]
    u = hash_uniform(key, np.arange(5)[:, None], jy[None, :], jx[None, :])  # 5 streams
    a = abs(climate.lat)
    vigour = 0.8 + 0.2 * u[3]
    if a < 18.0:  # two cycles a year, any phase
        period = 182.6
        sow = u[0] * period
        grow, ripen = 55.0 + 15.0 * u[1], 30.0 + 10.0 * u[2]
        g, d, s = _crop_cycle(np.full(n, doy_h), sow, grow, ripen, period)
    else:
        period = 365.25
        late = 0.9 * max(a - 35.0, 0.0)  # spring comes later further from the equator
        winter_share = 0.45 * float(
            _ramp(np.array(a), 28.0, 36.0) * (1 - _ramp(np.array(a), 52.0, 60.0))
        )
        winter = u[4] < winter_share
        sow = np.where(winter, 275.0 + 25.0 * u[0], 100.0 + late + 30.0 * u[0])
        grow = np.where(winter, 245.0 + 20.0 * u[1], 70.0 + 20.0 * u[1])
        ripen = np.where(winter, 45.0 + 15.0 * u[2], 40.0 + 20.0 * u[2])
        g, d, s = _crop_cycle(np.full(n, doy_h), sow, grow, ripen, period)
        # winter crops sit dormant while it is cold
        cold = 0.3 + 0.7 * _ramp(climate.temperature(doy_h), 3.0, 12.0)
        held = np.where(winter, g * (1 - cold), 0.0)
        g, s = g - held, s + held
    w = np.zeros((n, N_ENDMEMBERS))
    w[:, GREEN] = g * vigour
    w[:, DRY] = d
    w[:, SOIL] = s + g * (1 - vigour)
    return w


def unit_weights(
    climate: Climate, doy_h: float, parcel_key: int, parcel_keys: np.ndarray
) -> np.ndarray:
    """Endmember weights (N_NATURAL_UNITS + P, E) float32 of every unit on hemisphere day ``doy_h``.

    ``parcel_keys`` (P, 2) are the ground lattice indices of the patch's parcels (see
    ``landcover.Landscape``); ``parcel_key`` seeds their calendars.
    """
    nat = _natural(climate, float(doy_h))
    crop = _crops(climate, float(doy_h), parcel_key, parcel_keys)
    return np.concatenate([nat, crop]).astype(np.float32)
