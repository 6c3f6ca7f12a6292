"""The views each objective feeds its encoders, made on the device from one batch.

Input: ``(B, seasons, C, H, W)`` floats in [0, 1] (seasons in the order the data drew them).
``crop`` is a RandomResizedCrop drawn per view; ``aug`` adds the artificial augmentations
(colour jitter, grayscale, blur, horizontal flip). Every random number comes from one
generator seeded per step, so a step's views are reproducible. Which season each view shows
and whether it is augmented is the objective's record (:mod:`trainer.objectives`).
"""

from __future__ import annotations

from typing import Protocol

import torch

from trainer.objectives import Objective, objective_named

__all__ = ["Augmenter", "make_views"]


class Augmenter(Protocol):
    def crop(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...


def make_views(
    x: torch.Tensor, objective: str | Objective, aug: Augmenter, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """The objective's views, drawn in its order: SeCo ``q = crop(x_t0)``,
    ``k0 = crop(aug(x_t1))``, ``k1 = crop(x_t2)``, ``k2 = crop(aug(x_t0))``; MoCo
    ``q, k = aug(x_t0)`` twice; MoCo-TP ``q = aug(x_t0)``, ``k = aug(x_t1)``.

    Raises:
        ValueError: an unknown objective name.
    """
    method = objective_named(objective) if isinstance(objective, str) else objective
    return {
        v.name: (aug.augment if v.augmented else aug.crop)(x[:, v.season], generator)
        for v in method.views
    }
