"""From stored DN to network input, on the device, the same for pre-training and evaluation.

Each band is stretched linearly between the store's 2nd and 98th percentiles to [0, 1] and
clamped (the range the augmentations work in), then standardised with the store's mean and
standard deviation expressed in that stretched scale. The statistics travel with every
checkpoint and export, so a downstream task normalises exactly as pre-training did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shared.access.stats import read_stats
from shared.store.handle import Store

__all__ = ["BandScaling"]


@dataclass(frozen=True)
class BandScaling:
    """Per-band statistics in DN for the bands a model sees, in its channel order."""

    bands: tuple[str, ...]
    p2: tuple[float, ...]
    p98: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_store(cls, store: Store, bands: tuple[str, ...]) -> BandScaling:
        s = read_stats(store, list(bands))
        return cls(
            tuple(bands),
            *(tuple(float(v) for v in s[k]) for k in ("p2", "p98", "mean", "std")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: list(getattr(self, k)) for k in ("bands", "p2", "p98", "mean", "std")}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "scaling") -> BandScaling:
        """From its stored form, checked: ``bands`` strings, ``p2``/``p98``/``mean``/``std``
        finite numbers, one per band (raises :class:`~shared.errors.OutsideFileError`)."""
        from shared.outside import check_mapping, check_number_list, check_str_list

        keys = ("bands", "p2", "p98", "mean", "std")
        d = check_mapping(where, "scaling", d, required=dict.fromkeys(keys, list))
        bands = check_str_list(where, "scaling.bands", d["bands"], max_items=64)
        values = [check_number_list(where, f"scaling.{k}", d[k], len(bands)) for k in keys[1:]]
        return cls(tuple(bands), *(tuple(v) for v in values))

    def _column(
        self, values: tuple[float, ...], like: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=like.device).view(-1, 1, 1)

    def to_unit(self, x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``(…, C, H, W)`` DN (any integer or float dtype) → ``dtype`` in [0, 1]."""
        low = self._column(self.p2, x, torch.float32)
        span = (self._column(self.p98, x, torch.float32) - low).clamp_min(1.0)
        return ((x.to(torch.float32) - low) / span).clamp_(0.0, 1.0).to(dtype)

    def select(self, bands: tuple[str, ...]) -> BandScaling:
        """The statistics of a subset of the bands (a resolution group), in ``bands`` order."""
        at = [self.bands.index(b) for b in bands]
        return BandScaling(
            tuple(bands),
            *(tuple(getattr(self, k)[i] for i in at) for k in ("p2", "p98", "mean", "std")),
        )

    def group_to_unit(self, x: torch.Tensor, bands: tuple[str, ...]) -> torch.Tensor:
        """:meth:`to_unit` of a batch that holds only ``bands`` (one resolution group, any
        size), so 20/60 m bands are stretched at their native resolution, before upsampling."""
        return self.to_unit(x) if bands == self.bands else self.select(bands).to_unit(x)

    def unit_mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-band ``(mean, std)`` in the stretched [0, 1] scale of :meth:`to_unit` (what
        timm calls a model's ``mean``/``std``)."""
        p2, p98 = np.asarray(self.p2), np.asarray(self.p98)
        span = np.maximum(p98 - p2, 1.0)
        mean = tuple(float(v) for v in (np.asarray(self.mean) - p2) / span)
        std = tuple(float(v) for v in np.maximum(np.asarray(self.std) / span, 1e-3))
        return mean, std

    def standardize(self, unit: torch.Tensor) -> torch.Tensor:
        """``(…, C, H, W)`` in [0, 1] → zero mean, unit variance per band (approximately)."""
        mean, std = self.unit_mean_std()
        return (unit - self._column(mean, unit, unit.dtype)) / self._column(std, unit, unit.dtype)
