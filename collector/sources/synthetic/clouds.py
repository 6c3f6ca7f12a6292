"""Clouds and their shadows as spatial structures, and the cloud-probability layer.

A scene's clouds are a thresholded smooth field (value noise in UTM metres, keyed by the zone
and the day, so neighbouring patches share their clouds). The threshold is set from the
granule's cloud cover, so on average a patch is as cloudy as its granule, but single patches
range from clear to overcast. Cloud cores are nearly opaque (``tau_max``); edges thin out over
a band of intermediate opacity. Shadows are the same field moved by ``height · tan(zenith)``
towards the sun and darken the ground they fall on.

``probability`` is the store's cloud layer: cloud *or shadow* probability in percent, high on
clouds and on dark shadows, intermediate on thin edges, a few percent on clear ground.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.sources.synthetic.hashing import Tag, mix_words
from collector.sources.synthetic.noise import CoarseGrid, GridAxes, value_noise

__all__ = ["CLOUD_OCTAVES", "CloudGeometry", "cloud_fields", "CloudLayer", "cloud_layer"]

CLOUD_OCTAVES = ((15000.0, 1.0), (5000.0, 0.45), (1500.0, 0.25), (400.0, 0.12))
_EDGE = 0.45  # width (field units) of the ramp from clear to a cloud core
_SHADOW_DEPTH = 0.72  # share of direct light a thick cloud takes away


@dataclass(frozen=True)
class CloudGeometry:
    """What places a scene's clouds: cover, core opacity, height and the sun's direction."""

    cover: float
    tau_max: float
    height_m: float
    sun_elevation: float
    sun_azimuth: float

    def shadow_shift(self) -> tuple[float, float]:
        """Ground offset (east, north) in metres from a shadow to the cloud that casts it."""
        tan_zenith = min(1.0 / np.tan(np.radians(max(self.sun_elevation, 5.0))), 6.0)
        d = self.height_m * tan_zenith
        az = np.radians(self.sun_azimuth)
        return d * float(np.sin(az)), d * float(np.cos(az))

    def threshold(self) -> float:
        """Field value above which a point is more cloud than clear (≈ Φ⁻¹(1 − cover))."""
        c = min(max(self.cover, 1e-6), 1 - 1e-6)
        return float(np.log((1 - c) / c) / 1.702)


def cloud_fields(
    seed: int, epsg: int, day_number: int, axes: GridAxes, geometry: CloudGeometry
) -> tuple[np.ndarray, np.ndarray] | None:
    """The cloud field on ``axes`` and at the points that shade them, each (ny, nx) float32.

    Returns ``None`` when the scene is too clear for any cloud to reach the patch.
    """
    if geometry.cover < 1e-3:
        return None
    key = mix_words(seed, Tag.CLOUD_FIELD, epsg, day_number)
    dx, dy = geometry.shadow_shift()
    # one evaluation on the patch and its sun-ward copy side by side; keep the diagonal blocks
    both = GridAxes(
        np.concatenate([axes.xs, axes.xs + dx]), np.concatenate([axes.ys, axes.ys + dy])
    )
    f = value_noise(key, both, CLOUD_OCTAVES)
    ny, nx = axes.ys.size, axes.xs.size
    return f[:ny, :nx], f[ny:, nx:]


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - np.float32(lo)) * np.float32(1.0 / (float(hi) - float(lo))), 0, 1)
    return t * t * (np.float32(3) - np.float32(2) * t)


@dataclass(frozen=True)
class CloudLayer:
    """Per-pixel cloud state, each (ny, nx) float32.

    tau: cloud opacity in [0, 1]; shade: share of direct light lost to shadow in [0, 1);
    probability: cloud-or-shadow probability in percent, 0–100 (0 on clear ground: the
    renderer adds the few percent of clear-ground noise).
    """

    tau: np.ndarray
    shade: np.ndarray
    probability: np.ndarray

    def upsampled(self, grid: CoarseGrid) -> CloudLayer:
        """The layer brought from the coarse lattice to the patch's pixels."""
        return CloudLayer(
            grid.upsample(self.tau), grid.upsample(self.shade), grid.upsample(self.probability)
        )


def cloud_layer(z: np.ndarray, z_sun: np.ndarray, geometry: CloudGeometry) -> CloudLayer:
    """Opacity, shadow and probability from the two fields of :func:`cloud_fields`."""
    zc = geometry.threshold() - _EDGE / 2
    tau = np.float32(geometry.tau_max) * _ramp(z, zc, zc + _EDGE)
    above = np.float32(geometry.tau_max * _SHADOW_DEPTH) * _ramp(z_sun, zc, zc + _EDGE)
    shade = above * (np.float32(1) - tau)
    prob = np.maximum(
        np.float32(100) * _ramp(tau, 0.06, 0.40), np.float32(95) * _ramp(shade, 0.05, 0.35)
    )
    return CloudLayer(tau=tau, shade=shade, probability=prob)
