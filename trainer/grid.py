"""A batch's images on one pixel grid: layout 3's 20 m and 60 m groups brought to the 10 m grid
(one interpolation each) before any crop."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from shared.layout.native import FACTOR, group_bands

__all__ = ["to_grid"]


def to_grid(
    batch: dict[str, Tensor],
    bands: tuple[str, ...],
    convert: Callable[[Tensor, tuple[str, ...]], Tensor],
    mode: str = "bilinear",
) -> Tensor:
    """The images of a batch on the 10 m grid, ``(…, C, H, W)`` in ``bands`` order.

    ``batch`` holds ``pixels`` (already one grid) or ``pixels_10m``/``pixels_20m``/
    ``pixels_60m`` (layout 3, each group at its own resolution). ``convert(x, group_bands)``
    maps a group's stored DN to the model's scale (:meth:`BandScaling.to_unit`) at its own
    resolution; then each 20/60 m group is brought to the 10 m grid by one interpolation
    (``mode``: ``"bilinear"``, area-aligned as ``align_corners=False``, or ``"nearest"``),
    before any crop, so the crop resamples every band once more exactly as before.
    """
    if "pixels" in batch:
        return convert(batch["pixels"], bands)
    groups = group_bands(bands)
    parts = {g: convert(batch[f"pixels_{g}"], names) for g, names in groups.items()}
    size = max(x.shape[-1] * FACTOR[g] for g, x in parts.items())
    some = next(iter(parts.values()))
    lead = some.shape[:-3]
    out = some.new_empty((*lead, len(bands), size, size))
    for g, names in groups.items():
        x = parts[g]
        if FACTOR[g] > 1:
            flat = x.reshape(-1, *x.shape[-3:])
            if mode == "bilinear":
                flat = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)
            else:
                flat = F.interpolate(flat, size=(size, size), mode="nearest")
            x = flat.reshape(*lead, *flat.shape[-3:])
        out[..., [bands.index(b) for b in names], :, :] = x
    return out
