"""Encoders by name from timm: any timm model that takes ``in_chans`` and pools to features."""

from __future__ import annotations

import timm
import torch.nn as nn

__all__ = ["create_encoder", "feature_dim"]


def create_encoder(arch: str, in_chans: int) -> nn.Module:
    """A randomly initialised timm model without classifier (``num_classes=0``): images
    ``(B, in_chans, H, W)`` → pooled features ``(B, num_features)``."""
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch}*")[:8]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown timm architecture {arch!r}{hint}")
    return timm.create_model(arch, pretrained=False, num_classes=0, in_chans=in_chans)


def feature_dim(encoder: nn.Module) -> int:
    """Width of the pooled features."""
    width = getattr(encoder, "num_features", None)
    if not isinstance(width, int):
        raise ValueError(f"{type(encoder).__name__} does not report num_features")
    return width
