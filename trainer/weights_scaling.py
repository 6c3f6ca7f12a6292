"""Input scaling that travels with the weights (:class:`~trainer.scaling.BandScaling`).

Our formats carry the pre-training store's; published SeCo weights get SeCo's own (see
:func:`seco_scaling`): an official SeCo checkpoint always, a plain 3-channel state dict when its
file name says ``seco`` (as torchgeo's ``resnet18_sentinel2_rgb_seco-….pth`` do); other foreign
weights get ImageNet's mean and std over a [0, 1] range taken from the task's training images.
"""

from __future__ import annotations

import numpy as np

from shared.layout.bands import RGB
from trainer.scaling import BandScaling
from trainer.weights import WeightsError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "SECO_UINT8_QUANTILES", "seco_scaling", "unit_scaling"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: SeCo's pre-training images are uint8 (reflectance × 255, clipped); each RGB band was then
#: stretched between these 2 % / 98 % quantiles (in that uint8 scale) to 0–255 before the
#: ImageNet mean/std (official ``datasets/seco_dataset.py``, its ``QUANTILES``).
SECO_UINT8_QUANTILES: dict[str, tuple[float, float]] = {
    "B2": (3.0, 88.0),
    "B3": (2.0, 103.0),
    "B4": (0.0, 129.0),
}


def unit_scaling(
    bands: tuple[str, ...],
    low: tuple[float, ...],
    high: tuple[float, ...],
    unit_mean: tuple[float, ...],
    unit_std: tuple[float, ...],
) -> BandScaling:
    """A :class:`BandScaling` that stretches DN ``low``…``high`` to [0, 1] and then standardises
    with ``unit_mean``/``unit_std`` given in that [0, 1] scale (e.g. ImageNet's)."""
    lo, hi = np.asarray(low, float), np.asarray(high, float)
    span = np.maximum(hi - lo, 1.0)
    mean = lo + np.asarray(unit_mean, float) * span
    std = np.asarray(unit_std, float) * span
    return BandScaling(
        tuple(bands),
        tuple(float(v) for v in lo),
        tuple(float(v) for v in lo + span),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in std),
    )


def seco_scaling(bands: tuple[str, ...] = RGB) -> BandScaling:
    """SeCo's pre-training input scaling as DN → network input, for RGB bands in any order.

    SeCo stored reflectance × 255 as uint8, stretched each band between
    :data:`SECO_UINT8_QUANTILES` to 0–255, then applied the ImageNet mean/std; in DN
    (reflectance × 10⁴) that is a stretch between ``q × 10000 / 255`` (up to the uint8
    rounding) followed by the same mean/std.

    Raises:
        WeightsError: a band other than B2, B3, B4.
    """
    unknown = [b for b in bands if b not in SECO_UINT8_QUANTILES]
    if unknown:
        raise WeightsError(f"published SeCo weights take B4, B3, B2 only, not {unknown}")
    rgb_stats = dict(zip(RGB, zip(IMAGENET_MEAN, IMAGENET_STD, strict=True), strict=True))
    dn = 10000.0 / 255.0
    return unit_scaling(
        tuple(bands),
        tuple(SECO_UINT8_QUANTILES[b][0] * dn for b in bands),
        tuple(SECO_UINT8_QUANTILES[b][1] * dn for b in bands),
        tuple(rgb_stats[b][0] for b in bands),
        tuple(rgb_stats[b][1] for b in bands),
    )
