"""Importer pixel rules: every band stays at its published native resolution.

The published datasets store each band at its native resolution on the same footprint
(264 px at 10 m, 132 at 20 m, 44 at 60 m); layout 3 keeps them so, byte for byte after the
DN mapping. Nothing is upsampled. A release that already holds every band at 264 px (10 m)
is brought to the native grids by :func:`to_native`: the mean of each 2×2/6×6 block, which
is exact where the release repeated each sensor pixel as a block and the best estimate of
the sensor pixel where it interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.layout.native import FACTOR, BandImages, group_bands

__all__ = ["RESAMPLING", "NATIVE_FROM_10M", "to_native", "to_uint16"]

RESAMPLING = "none: each band kept at its published native resolution (264, 132 or 44 px)"
NATIVE_FROM_10M = (
    "20 m and 60 m bands published at 264 px are brought to their native 132/44 px grids by "
    "the mean of each 2×2/6×6 block (exact where the release repeated each sensor pixel); "
    "no-data where any pixel of the block is no data"
)


def to_native(full: np.ndarray, bands: Sequence[str]) -> BandImages:
    """``(…, bands, n, n)`` uint16 on the 10 m grid → native images (block means, rounded).

    A block with a no-data pixel (0) is no data; data blocks stay ≥ 1.
    """
    bands = tuple(bands)
    n = int(full.shape[-1])
    arrays = {}
    for g, names in group_bands(bands).items():
        sel = full[..., [bands.index(b) for b in names], :, :]
        f = FACTOR[g]
        if f > 1:
            lead = sel.shape[:-2]
            blocks = sel.reshape(*lead, n // f, f, n // f, f)
            nodata = (blocks == 0).any(axis=(-3, -1))
            sel = to_uint16(blocks.mean(axis=(-3, -1), dtype=np.float64), nodata)
        arrays[g] = np.ascontiguousarray(sel, np.uint16)
    out = BandImages(bands, n, arrays)
    out.check()
    return out


def to_uint16(dn: np.ndarray, nodata: np.ndarray | None = None) -> np.ndarray:
    """Float DN → uint16, rounded; data pixels clipped to 1…65535, ``nodata`` pixels 0."""
    out = np.clip(np.rint(dn), 1, 65535).astype(np.uint16)
    if nodata is not None:
        out[nodata] = 0
    return out
