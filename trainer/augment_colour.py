"""Batched colour operations on images in [0, 1], with one parameter per sample.

Pure tensor functions: no randomness, no host synchronisation, no Python branching on tensor
values, so they run unchanged on CPU and CUDA and trace whole under ``torch.compile``. Every
parameter is a tensor with one row per sample, shape (B,) (or (B, C) for per-band factors).

Semantics follow ``torchvision.transforms.functional`` on float images: the luma weights of
``rgb_to_grayscale`` (ITU-R 601-2, 0.2989 / 0.587 / 0.114), ``_blend``-style mixing clamped to
[0, 1] after each operation, the HSV hue rotation of ``adjust_hue`` (written here in closed form
instead of the 6-way HSV table; equal up to rounding) and the normalised Gaussian of
``gaussian_blur`` with reflect padding (applied separably).

Brightness, contrast and saturation are all one "linear round"
``clamp(a * x + b * luma(x) + c * mean(luma(x)), 0, 1)`` with per-sample ``(a, b, c)``:
brightness ``(f, 0, 0)``, contrast ``(f, 0, 1 - f)``, saturation ``(f, 1 - f, 0)``, and the
identity ``(1, 0, 0)`` (exact). That lets a batch apply a different operation to every sample
in the same pass, which is how the random per-sample order of ColorJitter is vectorised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LUMA",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "band_mean",
    "gaussian_blur",
    "gaussian_kernels",
    "linear_round",
    "luma",
    "mix_bands",
    "rgb_to_grayscale",
]

LUMA = (0.2989, 0.587, 0.114)
"""R, G, B weights of the grey (luma) image, as torchvision's ``rgb_to_grayscale``."""


def _rows(v: Tensor, x: Tensor) -> Tensor:
    """(B,) or (B, C) parameters → (B, 1 or C, 1, 1) on x's device, in x's dtype."""
    v = v.to(device=x.device, dtype=x.dtype)
    return v.reshape(v.shape[0], -1, 1, 1)


def luma(x: Tensor) -> Tensor:
    """Grey level of RGB images: (B, 3, H, W) → (B, 1, H, W), same dtype."""
    red_green = torch.add(LUMA[0] * x[:, 0:1], x[:, 1:2], alpha=LUMA[1])
    return torch.add(red_green, x[:, 2:3], alpha=LUMA[2])


def linear_round(x: Tensor, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """``clamp(a * x + b * luma(x) + c * mean(luma(x)))`` per sample, RGB.

    x: (B, 3, H, W) in [0, 1]; a, b, c: (B,) factors. Returns (B, 3, H, W), x's dtype.
    """
    gray = luma(x)
    mean = gray.mean(dim=(-2, -1), keepdim=True)
    shared = torch.addcmul(_rows(c, x) * mean, _rows(b, x), gray)
    return torch.addcmul(shared, _rows(a, x), x).clamp_(0.0, 1.0)


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    """RGB or any bands: ``clamp(f * x)``; x (B, C, H, W), factor (B,)."""
    return (x * _rows(factor, x)).clamp_(0.0, 1.0)


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    """RGB: blend with the per-image mean of the luma image; x (B, 3, H, W), factor (B,)."""
    zero = torch.zeros_like(factor)
    return linear_round(x, factor, zero, 1.0 - factor)


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    """RGB: blend with the luma image; x (B, 3, H, W), factor (B,)."""
    zero = torch.zeros_like(factor)
    return linear_round(x, factor, 1.0 - factor, zero)


def adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """RGB: rotate the HSV hue by ``shift`` turns (B,), keeping HSV saturation and value.

    x: (B, 3, H, W) in [0, 1] → (B, 3, H, W). Grey pixels (max == min) are unchanged. Ties in
    the maximum go to red, then green, as in torchvision's ``_rgb2hsv``.
    """
    top = x.amax(dim=1, keepdim=True)
    chroma = top - x.amin(dim=1, keepdim=True)
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    red_top = top == r
    green_top = top == g
    # Hue in sixths of a turn, [0, 6) up to a multiple of 6: the sextant of the maximal channel
    # (R 0, G 2, B 4) plus the signed position of the other two inside it. A grey pixel has
    # rise = chroma = 0, and the clamp keeps 0 / 0 out.
    rise = torch.where(red_top, g - b, torch.where(green_top, b - r, r - g))
    start = torch.where(red_top, 0.0, torch.where(green_top, 2.0, 4.0)).to(x.dtype)
    sixths = rise / chroma.clamp_min(1e-12) + (start + 6.0 * _rows(shift, x))
    # Back to RGB in closed form: channel n ∈ (R, G, B) = (5, 3, 1) sits k = (n + 6h) mod 6
    # sixths away; it is at the maximum for k ≥ 4, at the minimum for 1 ≤ k ≤ 3, ramps between.
    # (built on the device with arange: a torch.tensor(list) on CUDA would synchronise)
    phase = (5.0 - 2.0 * torch.arange(3, device=x.device, dtype=x.dtype)).view(1, 3, 1, 1)
    k = torch.remainder(sixths + phase, 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return torch.addcmul(top, chroma, ramp, value=-1.0)


def rgb_to_grayscale(x: Tensor) -> Tensor:
    """RGB → luma replicated on 3 channels: (B, 3, H, W) → (B, 3, H, W) (a view)."""
    return luma(x).expand_as(x)


def mix_bands(x: Tensor, a: Tensor, c: Tensor) -> Tensor:
    """Any bands: ``clamp(a * x + c * mean(x))`` per sample and band.

    x: (B, C, H, W); a, c: (B, C) factors; the mean is each band's over H and W. Brightness is
    ``(f, 0)``, contrast against the band's own mean ``(f, 1 - f)``.
    """
    mean = x.mean(dim=(-2, -1), keepdim=True)
    return torch.addcmul(_rows(c, x) * mean, _rows(a, x), x).clamp_(0.0, 1.0)


def band_mean(x: Tensor) -> Tensor:
    """Multispectral "grayscale": every band replaced by the mean of the bands (a view)."""
    return x.mean(dim=1, keepdim=True).expand_as(x)


def gaussian_kernels(sigma: Tensor, size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Normalised 1-D Gaussians sampled at integer offsets: sigma (B,) → (B, size).

    The taps of torchvision's ``_get_gaussian_kernel1d`` for an odd ``size``.
    """
    half = (size - 1) / 2
    offsets = torch.arange(size, device=sigma.device, dtype=torch.float32) - half
    pdf = torch.exp(-0.5 * (offsets / sigma.float()[:, None]) ** 2)
    return (pdf / pdf.sum(dim=1, keepdim=True)).to(dtype)


def gaussian_blur(x: Tensor, kernels: Tensor) -> Tensor:
    """Separable blur, one 1-D kernel per sample, reflect padding.

    x: (B, C, H, W); kernels: (B, K), K odd and K // 2 < min(H, W). A one-hot kernel (1 in the
    centre) leaves its sample exactly unchanged. One grouped convolution over B * C channels
    per direction.
    """
    n, ch, h, w = x.shape
    size = kernels.shape[1]
    pad = size // 2
    taps = kernels.to(device=x.device, dtype=x.dtype).repeat_interleave(ch, dim=0)
    planes = F.pad(x.reshape(1, n * ch, h, w), (pad, pad, pad, pad), mode="reflect")
    planes = F.conv2d(planes, taps.view(n * ch, 1, size, 1), groups=n * ch)
    planes = F.conv2d(planes, taps.view(n * ch, 1, 1, size), groups=n * ch)
    return planes.view(n, ch, h, w)
