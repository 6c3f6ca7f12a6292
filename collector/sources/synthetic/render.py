"""Compose one scene: land cover, phenology, snow, texture, atmosphere and clouds → DN.

Pixels sharing a *unit* (see ``phenology``) and a snow level share one spectrum, so a scene is
rendered by building a small lookup table (units × snow levels × bands) and gathering it per
pixel; per-pixel effects that scale all bands alike (texture, cloud cover, shadow) are one
multiplication, and the cloud's own light one addition per band on cloudy pixels:

    dn = table[key] · tex · (1 − τ) · (1 − shade) + τ · (cloud − offset) + offset
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.sources.synthetic.clouds import CloudLayer
from collector.sources.synthetic.landcover import CROPLAND, N_VARIANTS, URBAN, Landscape
from collector.sources.synthetic.phenology import N_NATURAL_UNITS
from collector.sources.synthetic.spectra import ENDMEMBERS, SNOW, Atmosphere

__all__ = ["SNOW_LEVELS", "Ground", "ground_state", "snow_cover", "render_scene"]

SNOW_LEVELS = 16
# per class (water, evergreen, deciduous, crop, grass, urban, bare, snow/ice):
_COOLING = np.array([-3.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 10.0], dtype=np.float32)  # °C colder
_CANOPY = np.array([0.95, 0.45, 0.7, 1.0, 1.0, 0.8, 1.0, 1.0], dtype=np.float32)  # snow visible
_TEXTURE = np.array([0.02, 0.16, 0.14, 0.05, 0.08, 0.1, 0.08, 0.05], dtype=np.float32)
_LAPSE = 1.6  # °C colder per standard deviation of relative height
_SNOW_START, _SNOW_FULL = -2.0, -6.0  # pixel temperature (°C) where snow begins / is complete


@dataclass(frozen=True)
class Ground:
    """Per-pixel state that depends on the land-cover map but not on the date.

    classes (N, N) uint8; units (N², ) intp unit index; factor (N², ) float32 texture
    brightness; chill (N, N) float32 °C to add to the lowland temperature for snow;
    canopy (N, N) float32 share of snow visible through vegetation; clear_probability (N, N)
    float32 cloud probability of clear ground (a few percent).
    """

    classes: np.ndarray
    units: np.ndarray
    factor: np.ndarray
    chill: np.ndarray
    canopy: np.ndarray
    clear_probability: np.ndarray

    @property
    def warmest_snow(self) -> float:
        """Lowland temperature (°C) at or above which no pixel holds snow."""
        return float(_SNOW_START - self.chill.min())


def ground_state(land: Landscape, classes: np.ndarray) -> Ground:
    """The :class:`Ground` of a landscape under a land-cover map (the base map or a changed one)."""
    natural = classes.astype(np.intp) * N_VARIANTS + land.variant
    units = np.where(classes == CROPLAND, N_NATURAL_UNITS + land.parcel, natural)
    factor = np.float32(1) + _TEXTURE[classes] * land.texture
    factor = np.where(classes == URBAN, factor * land.fabric, factor)
    chill = np.float32(-2.0) - np.float32(_LAPSE) * land.elevation - _COOLING[classes]
    return Ground(
        classes=classes,
        units=units.ravel(),
        factor=factor.ravel(),
        chill=chill,
        canopy=_CANOPY[classes],
        clear_probability=np.float32(1) + np.float32(9) * land.white,
    )


def snow_cover(ground: Ground, temperature_c: float) -> np.ndarray | None:
    """Visible snow fraction (N, N) float32 in [0, 1], or ``None`` when there is none.

    Snow lies where the pixel's own temperature (lowland air plus ``chill``: colder uphill,
    much colder on the snow/ice class, warmer for lake ice) is below ≈ −2 °C and is complete
    below ≈ −6 °C; forest canopies hide part of it.
    """
    if temperature_c >= ground.warmest_snow:
        return None
    t = np.float32(temperature_c) + ground.chill
    s = np.clip((np.float32(_SNOW_START) - t) * np.float32(1 / (_SNOW_START - _SNOW_FULL)), 0, 1)
    return s * ground.canopy


def render_scene(
    ground: Ground,
    weights: np.ndarray,
    temperature_c: float,
    atmos: Atmosphere,
    band_index: np.ndarray,
    clouds: CloudLayer | None,
    cloud_spectrum: np.ndarray,
    pixels: np.ndarray,
    cloud: np.ndarray,
) -> None:
    """Write one scene into ``pixels`` (B, N, N) uint16 DN and ``cloud`` (N, N) uint8 (%).

    ``weights`` (U, E) are the units' endmember weights on the scene's date; ``band_index``
    (B,) picks bands from L1C order; ``clouds`` (full resolution) is ``None`` for a clear patch.
    """
    table = weights @ ENDMEMBERS[:, band_index]  # (U, B) surface reflectance × 1e4
    snow = snow_cover(ground, temperature_c)
    if snow is not None:
        level = np.rint(snow.ravel() * np.float32(SNOW_LEVELS - 1)).astype(np.intp)
        key = ground.units * SNOW_LEVELS + level
        frac = (np.arange(SNOW_LEVELS, dtype=np.float32) / (SNOW_LEVELS - 1))[None, :, None]
        table = table[:, None, :] * (1 - frac) + SNOW[band_index][None, None, :] * frac
        table = table.reshape(-1, band_index.size)
    else:
        key = ground.units
    gain, offset = atmos.gain[band_index], atmos.offset[band_index]
    lut = np.ascontiguousarray((table * gain).T, dtype=np.float32)  # (B, K)
    out = np.take(lut, key, axis=1)  # (B, N²)
    if clouds is None:
        out *= ground.factor
        prob = ground.clear_probability
    else:
        tau = clouds.tau.ravel()
        out *= ground.factor * (np.float32(1) - tau) * (np.float32(1) - clouds.shade.ravel())
        cloudy = np.flatnonzero(tau > 0)
        if cloudy.size:
            light = (cloud_spectrum[band_index] - offset)[:, None]
            out[:, cloudy] += light * tau[cloudy][None, :]
        prob = np.maximum(clouds.probability, ground.clear_probability)
    out += offset[:, None]
    np.copyto(pixels.reshape(out.shape), out, casting="unsafe")
    np.copyto(cloud, np.rint(prob), casting="unsafe")
