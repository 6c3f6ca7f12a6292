"""The crop step of a view: torchvision's RandomResizedCrop box and the horizontal flip, in one
resampling pass.

``sample_crop_params`` draws the boxes (10 vectorised tries per sample, centre crop fallback)
and flips; ``apply_crop`` is a pure tensor function of the images and those parameters:
bilinear resampling equal to ``resized_crop(..., antialias=False)``, with the flip mirroring the
crop's output (RandomResizedCrop then RandomHorizontalFlip) by reversing the sampling columns of
the same ``grid_sample`` call.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from trainer.augment_config import AugmentConfig, _spread, _uniform

__all__ = ["CropParams", "apply_crop", "random_resized_crop", "sample_crop_params"]

CROP_TRIES = 10
"""Boxes drawn per sample before falling back to the centre crop (torchvision's number)."""


class CropParams(NamedTuple):
    """Per-sample crop: ``boxes`` (B, 4) int64 rows (top, left, height, width); ``flip`` (B,) bool."""

    boxes: Tensor
    flip: Tensor


def sample_crop_params(
    n: int,
    height: int,
    width: int,
    cfg: AugmentConfig,
    generator: torch.Generator,
    device: torch.device | str,
    flip: bool = False,
) -> CropParams:
    """RandomResizedCrop boxes for ``n`` images of ``height`` × ``width``, on ``device``.

    Each sample draws 10 (area fraction, log aspect ratio) pairs at once and keeps the first
    whose rounded box fits (torchvision keeps the first that fits, drawing one at a time: the
    same distribution); if none fits, the centre crop of the clamped aspect ratio. The flip is a
    Bernoulli(``flip_p``) per sample when ``flip``, else all False (its numbers are drawn either
    way, so ``flip`` does not shift the crops of a seed).
    """
    device = torch.device(device)
    u = _uniform(generator, (n, 2 * CROP_TRIES + 3), device)
    area = float(height * width)
    frac = _spread(u[:, :CROP_TRIES], *cfg.scale)
    log_ratio = _spread(u[:, CROP_TRIES : 2 * CROP_TRIES], *(math.log(r) for r in cfg.ratio))
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(area * frac * aspect)).long()
    h = torch.round(torch.sqrt(area * frac / aspect)).long()
    fits = (w >= 1) & (w <= width) & (h >= 1) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)  # first True (0 when none: replaced below)
    found = fits.any(dim=1)
    # Centre crop of the whole image with its aspect ratio clamped into cfg.ratio.
    if width / height < cfg.ratio[0]:
        fb_w, fb_h = width, int(round(width / cfg.ratio[0]))
    elif width / height > cfg.ratio[1]:
        fb_w, fb_h = int(round(height * cfg.ratio[1])), height
    else:
        fb_w, fb_h = width, height
    h = torch.where(found, h.gather(1, first).squeeze(1), fb_h)
    w = torch.where(found, w.gather(1, first).squeeze(1), fb_w)
    # Uniform integer offsets in [0, height - h], [0, width - w] (as randint(0, n + 1)).
    u_top, u_left = u[:, 2 * CROP_TRIES], u[:, 2 * CROP_TRIES + 1]
    top = torch.minimum((u_top * (height - h + 1)).long(), height - h)
    left = torch.minimum((u_left * (width - w + 1)).long(), width - w)
    top = torch.where(found, top, (height - fb_h) // 2)
    left = torch.where(found, left, (width - fb_w) // 2)
    mirror = (u[:, 2 * CROP_TRIES + 2] < cfg.flip_p) & flip
    return CropParams(torch.stack((top, left, h, w), dim=1), mirror)


def _source_coords(start: Tensor, extent: Tensor, size: int, full: int) -> Tensor:
    """Sampling positions of ``size`` output pixels over [start, start + extent) of an axis.

    start, extent: (B,) int. Returns (B, size) float32 positions normalised for ``grid_sample``
    (align_corners=False): output pixel o reads the crop at (o + 0.5) · extent / size - 0.5,
    clamped to [0, extent - 1] (exactly what bilinear ``interpolate`` does on the cropped
    image), shifted by ``start``, then mapped to [-1, 1] over the ``full`` pixels of the axis.
    """
    out = torch.arange(size, device=start.device, dtype=torch.float32)
    ext = extent.float()[:, None]
    inside = (out + 0.5) * (ext / size) - 0.5
    inside = torch.minimum(inside.clamp_min(0.0), ext - 1.0)
    return (2.0 * (start.float()[:, None] + inside) + 1.0) / full - 1.0


def apply_crop(x: Tensor, boxes: Tensor, flip: Tensor, size: int) -> Tensor:
    """Crop, resize and mirror every sample in one ``grid_sample`` pass.

    x: (B, C, H, W) float; boxes: (B, 4) int (top, left, height, width) inside the image;
    flip: (B,) bool. Returns (B, C, size, size) in x's dtype: bilinear (align_corners=False,
    no antialiasing), identical to torchvision ``resized_crop`` then ``hflip`` where ``flip``.
    Half-precision inputs are resampled in float32 (the grid needs the precision).
    """
    n, _, height, width = x.shape
    boxes = boxes.to(x.device)
    ys = _source_coords(boxes[:, 0], boxes[:, 2], size, height)
    xs = _source_coords(boxes[:, 1], boxes[:, 3], size, width)
    xs = torch.where(flip.to(x.device)[:, None], xs.flip(1), xs)
    grid = torch.empty((n, size, size, 2), device=x.device, dtype=torch.float32)
    grid[..., 0] = xs[:, None, :]
    grid[..., 1] = ys[:, :, None]
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    out = F.grid_sample(
        work, grid.to(work.dtype), mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.to(x.dtype)


def random_resized_crop(
    x: Tensor, cfg: AugmentConfig, generator: torch.Generator, flip: bool = False
) -> Tensor:
    """(B, C, H, W) → (B, C, size, size): a random box per sample, bilinear, optional flip.

    With ``flip`` each sample is also mirrored left-right with probability ``flip_p``, inside the
    same resampling pass.
    """
    n, _, height, width = x.shape
    params = sample_crop_params(n, height, width, cfg, generator, x.device, flip=flip)
    return apply_crop(x, params.boxes, params.flip, cfg.size)
