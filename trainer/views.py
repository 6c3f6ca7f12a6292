"""The views each objective feeds its encoders, made on the device from one batch.

Input: ``(B, seasons, C, H, W)`` floats in [0, 1] (seasons in the order the data drew them).
``crop`` is a RandomResizedCrop drawn per view; ``aug`` adds the artificial augmentations
(colour jitter, grayscale, blur, horizontal flip). Every random number comes from one
generator seeded per step, so a step's views are reproducible.
"""

from __future__ import annotations

from typing import Protocol

import torch

__all__ = ["Augmenter", "make_views"]


class Augmenter(Protocol):
    def crop(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


def make_views(
    x: torch.Tensor, objective: str, aug: Augmenter, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """SeCo: ``q = crop(x_t0)``, ``k0 = crop(aug(x_t1))``, ``k1 = crop(x_t2)``,
    ``k2 = crop(aug(x_t0))``; MoCo: ``q, k = aug(x_t0)`` twice; MoCo-TP: ``q = aug(x_t0)``,
    ``k = aug(x_t1)``."""
    if objective == "seco":
        return {
            "q": aug.crop(x[:, 0], generator),
            "k0": aug.augment(x[:, 1], generator),
            "k1": aug.crop(x[:, 2], generator),
            "k2": aug.augment(x[:, 0], generator),
        }
    if objective == "moco":
        return {"q": aug.augment(x[:, 0], generator), "k": aug.augment(x[:, 0], generator)}
    if objective == "moco_tp":
        return {"q": aug.augment(x[:, 0], generator), "k": aug.augment(x[:, 1], generator)}
    raise ValueError(f"unknown objective {objective!r}")
