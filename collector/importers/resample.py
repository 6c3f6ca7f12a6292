"""Bringing 20 m and 60 m bands onto the 10 m grid: bilinear for reflectance.

The published datasets store each band at its native resolution on the same footprint
(264 px at 10 m, 132 at 20 m, 44 at 60 m). Upsampling treats pixels as areas (pixel centres
at ``(i + 0.5) · factor − 0.5``, edges clamped; the convention of GDAL's and torch's
``align_corners=False`` bilinear), separable in y and x. No-data pixels (0) stay no data:
an output pixel is no data where its nearest source pixel is (:func:`upsample_mask`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["RESAMPLING", "upsample_bilinear", "upsample_mask", "to_uint16"]

RESAMPLING = "bilinear (pixel-area aligned, edges clamped) for 20 m and 60 m bands; nodata nearest"


@lru_cache(maxsize=16)
def _axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index, upper weight and nearest index of each output pixel."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0.0, n_in - 1)
    lo = np.floor(x).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (x - lo).astype(np.float32)
    nearest = np.minimum(np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)), n_in - 1)
    return lo, hi, w, nearest.astype(np.intp)


def upsample_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """(h, w) values → (size, size) float32, bilinear; a (size, size) image is returned as is.

    Raises:
        ValueError: when the image is not square or larger than ``size``.
    """
    h, w = image.shape
    if h != w or h > size:
        raise ValueError(f"cannot upsample a {h}×{w} image to {size}×{size}")
    img = np.asarray(image, np.float32)
    if h == size:
        return img
    lo, hi, wt, _ = _axis(h, size)
    rows = img[lo] * (1 - wt)[:, None] + img[hi] * wt[:, None]  # (size, w)
    return rows[:, lo] * (1 - wt)[None, :] + rows[:, hi] * wt[None, :]


def upsample_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(h, h) bool → (size, size) bool, nearest neighbour."""
    if mask.shape[0] == size:
        return np.asarray(mask, bool)
    near = _axis(mask.shape[0], size)[3]
    return np.asarray(mask, bool)[near][:, near]


def to_uint16(dn: np.ndarray, nodata: np.ndarray | None = None) -> np.ndarray:
    """Float DN → uint16, rounded; data pixels clipped to 1…65535, ``nodata`` pixels 0."""
    out = np.clip(np.rint(dn), 1, 65535).astype(np.uint16)
    if nodata is not None:
        out[nodata] = 0
    return out
