"""Frozen features, extracted once per encoder and task."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from trainer.scaling import BandScaling

__all__ = ["prepare", "extract"]


def prepare(
    images: np.ndarray, scaling: BandScaling, size: int, device: torch.device
) -> torch.Tensor:
    """(n, C, H, W) DN → (n, C, size, size) standardised floats on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    x = scaling.standardize(scaling.to_unit(x))
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    return x


@torch.no_grad()
def extract(
    model: torch.nn.Module,
    read: Callable[[np.ndarray], np.ndarray],
    idx: np.ndarray,
    scaling: BandScaling,
    size: int,
    device: torch.device,
    batch: int = 64,
    desc: str = "features",
) -> np.ndarray:
    """(n, D) float32 features of the items ``idx``; ``read(idx)`` gives their DN images, read
    batch by batch (only features are kept). A progress bar shows on a terminal, a line per
    10 % elsewhere (:func:`shared.progress.progress`)."""
    from shared.progress import progress

    model = model.to(device).eval()
    parts = []
    with progress(int(idx.size), desc, "img", leave=False) as bar:
        for start in range(0, idx.size, batch):
            chunk = idx[start : start + batch]
            parts.append(model(prepare(read(chunk), scaling, size, device)).float().cpu().numpy())
            bar.update(len(chunk))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
