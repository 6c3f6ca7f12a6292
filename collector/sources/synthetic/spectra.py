"""Reflectance spectra of the synthetic world and the atmosphere between it and the sensor.

Surfaces are mixtures of a few *endmembers*, each a 13-band spectrum of surface reflectance
× 10⁴ in L1C band order (B1 … B12, B8A after B8, B10 included). Values follow typical field and
library spectra: green leaves with a low red, a red-edge rise (B5 < B6 < B7) and an NIR plateau;
water dark from the red on and below 1 % in the SWIR; snow very bright in the visible and
dark at 1.6 and 2.2 µm; urban surfaces flat and bright; soil rising from blue to SWIR.

The atmosphere is a one-line radiative model per band: ``toa = surface · T + path``, with
Rayleigh and aerosol optical depths giving bluer bands more path radiance and less
transmission, strong water-vapour absorption in B9 and near-total absorption in B10 (cirrus),
which therefore sees only high clouds. L2A (surface reflectance) keeps a small residual of the
path term, as imperfect atmospheric correction does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "L1C_ORDER",
    "ENDMEMBERS",
    "ENDMEMBER_NAMES",
    "SNOW",
    "cloud_spectrum",
    "Atmosphere",
    "atmosphere",
    "illumination",
]

#: Band order of every spectrum in this module (Sentinel-2 L1C order).
L1C_ORDER: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12",
)  # fmt: skip
_WAVELENGTH_UM = np.array(
    [0.443, 0.492, 0.560, 0.665, 0.704, 0.741, 0.783, 0.833, 0.865, 0.945, 1.374, 1.614, 2.202]
)

ENDMEMBER_NAMES: tuple[str, ...] = (
    "green_leaf", "needle_leaf", "dry_vegetation", "bark_litter", "soil", "water", "urban", "rock",
)  # fmt: skip
#: (E, 13) float32 surface reflectance × 10⁴ of the endmembers named in ``ENDMEMBER_NAMES``.
ENDMEMBERS = np.array(
    [
        # B1   B2    B3    B4    B5    B6    B7    B8    B8A   B9    B10  B11   B12
        [300, 350, 720, 380, 1150, 2700, 3400, 3650, 3750, 3100, 0, 1950, 950],
        [220, 260, 480, 260, 760, 1850, 2350, 2550, 2650, 2150, 0, 1250, 560],
        [650, 720, 960, 1180, 1420, 1720, 1920, 2060, 2160, 1950, 0, 2950, 2050],
        [420, 480, 620, 720, 900, 1150, 1300, 1420, 1500, 1400, 0, 1950, 1350],
        [850, 950, 1420, 1800, 2050, 2250, 2400, 2550, 2700, 2600, 0, 3400, 3000],
        [620, 560, 500, 310, 240, 170, 150, 130, 115, 80, 0, 50, 30],
        [1300, 1250, 1350, 1450, 1550, 1650, 1700, 1750, 1800, 1700, 0, 2100, 1900],
        [1150, 1250, 1450, 1620, 1720, 1800, 1850, 1900, 1950, 1900, 0, 2350, 1950],
    ],
    dtype=np.float32,
)
#: (13,) float32 fresh snow.
SNOW = np.array(
    [9300, 9250, 9050, 8750, 8550, 8300, 8050, 7650, 7350, 6000, 0, 620, 420], dtype=np.float32
)
_CLOUD = np.array(
    [7700, 7600, 7500, 7400, 7350, 7300, 7250, 7200, 7150, 5400, 0, 4700, 3100],
    dtype=np.float32,
)
_B9, _B10 = L1C_ORDER.index("B9"), L1C_ORDER.index("B10")


def cloud_spectrum(brightness: float, cirrus: float) -> np.ndarray:
    """(13,) float32 apparent reflectance × 10⁴ of an opaque cloud top.

    ``brightness`` scales the whole spectrum (≈ 0.8–1.1); ``cirrus`` in [0, 1] is the share of
    high ice cloud, the only part the B10 cirrus band sees.
    """
    c = _CLOUD * np.float32(brightness)
    c[_B10] = 350.0 + 2700.0 * cirrus
    return c


def illumination(sun_elevation_deg: float) -> float:
    """Brightness factor of sunlit ground for a solar elevation: 1 above ≈ 35°, ≈ 0.5 near 3°."""
    return float(min(1.0, 0.45 + 0.8 * np.sin(np.radians(max(sun_elevation_deg, 0.0)))))


@dataclass(frozen=True)
class Atmosphere:
    """Per-band ``gain`` and ``offset`` (13,) float32: ``dn = surface · gain + offset``."""

    gain: np.ndarray
    offset: np.ndarray


def atmosphere(collection: str, sun_elevation_deg: float, aod550: float) -> Atmosphere:
    """Atmospheric gain/offset for a scene, surface illumination included.

    ``collection`` ``"L1C"`` gives top-of-atmosphere reflectance, ``"L2A"`` surface reflectance
    with a small residual haze; ``aod550`` is the aerosol optical depth at 550 nm (≈ 0.05–0.6).
    """
    if collection not in ("L1C", "L2A"):
        raise ValueError(f"collection must be 'L1C' or 'L2A', got {collection!r}")
    el = max(float(sun_elevation_deg), 1.0)
    mu = np.sin(np.radians(el))
    lam = _WAVELENGTH_UM
    tau_r = 0.008569 * lam**-4 * (1 + 0.0113 * lam**-2)
    tau_a = aod550 * (lam / 0.55) ** -1.3
    path = (0.2 * tau_r + 0.08 * tau_a) / mu**0.3
    trans = np.exp(-(0.3 * tau_r + 0.25 * tau_a) * (1.0 / mu + 1.0))
    trans[_B9] *= 0.45  # water vapour
    trans[_B10] *= 0.012  # 1.38 µm: the lower atmosphere is opaque
    path[_B10] = 0.00015
    light = illumination(el)
    if collection == "L1C":
        gain, offset = trans * light, path * 1e4 * (0.6 + 0.4 * light)
    else:
        gain, offset = np.full(13, light), 0.12 * path * 1e4
        gain[_B9] *= 0.8
    # +1 keeps every pixel with data at DN ≥ 1 (0 means no data), +0.5 rounds on truncation
    return Atmosphere(gain.astype(np.float32), (offset + 1.5).astype(np.float32))
