"""Encoders under evaluation: a training checkpoint, an export folder, or a random one.

Pre-trained encoders bring the band scaling of their pre-training store (the same
normalisation downstream as during pre-training). A random encoder has none, so it is scaled
with statistics of the task's own training images; ``random`` is ``random:resnet18``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn as nn

from trainer.export import CONFIG, encoder_from_checkpoint, load_encoder
from trainer.scaling import BandScaling

__all__ = ["EvalEncoder", "load_eval_encoder", "scaling_from_images", "pyramid"]


@dataclass
class EvalEncoder:
    """A frozen feature extractor and how to feed it."""

    name: str
    arch: str
    model: nn.Module
    bands: tuple[str, ...]
    scaling: BandScaling | None  # None: derive from the task's training images


def load_eval_encoder(spec: str, bands: tuple[str, ...], seed: int = 0) -> EvalEncoder:
    """``checkpoint.pt`` | export folder | ``random`` | ``random:<timm arch>``."""
    if spec == "random" or spec.startswith("random:"):
        arch = spec.partition(":")[2] or "resnet18"
        if not timm.is_model(arch):
            raise ValueError(f"unknown timm architecture {arch!r}")
        torch.manual_seed(seed)
        model = timm.create_model(arch, pretrained=False, num_classes=0, in_chans=len(bands))
        return EvalEncoder(f"random-{arch}", arch, model.eval(), tuple(bands), None)
    path = Path(spec)
    if path.is_dir() and (path / CONFIG).is_file():
        model, scaling, meta = load_encoder(path)
        return EvalEncoder(path.name, meta["architecture"], model, scaling.bands, scaling)
    if path.is_file():
        model, scaling, cfg = encoder_from_checkpoint(path)
        name = f"{cfg['objective']}-{cfg['arch']}"
        return EvalEncoder(name, cfg["arch"], model, scaling.bands, scaling)
    raise FileNotFoundError(f"encoder {spec!r}: no checkpoint, export folder or 'random[:arch]'")


def scaling_from_images(
    images: np.ndarray | list[np.ndarray], bands: tuple[str, ...]
) -> BandScaling:
    """Band scaling from DN images, (n, C, H, W) or a list of (C, H_i, W_i) of any sizes
    (pixels with DN 0 ignored)."""
    per_band = np.concatenate(
        [np.asarray(im).reshape(len(bands), -1) for im in images], axis=1
    ).astype(np.float64)
    stats = []
    for values in per_band:
        v = values[values > 0] if np.any(values > 0) else values
        stats.append((np.percentile(v, 2), np.percentile(v, 98), v.mean(), v.std()))
    p2, p98, mean, std = (tuple(float(s[k]) for s in stats) for k in range(4))
    return BandScaling(tuple(bands), p2, p98, mean, std)


def pyramid(encoder: EvalEncoder) -> nn.Module:
    """The same weights as a multi-scale feature extractor (timm ``features_only``)."""
    net = timm.create_model(
        encoder.arch, pretrained=False, features_only=True, in_chans=len(encoder.bands)
    )
    missing, _unexpected = net.load_state_dict(encoder.model.state_dict(), strict=False)
    if missing:
        raise ValueError(
            f"{encoder.name}: {len(missing)} feature weights missing (e.g. {missing[0]})"
        )
    return net.eval()
