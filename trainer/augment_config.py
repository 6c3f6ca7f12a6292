"""Settings of the SeCo view augmentation, and the uniform draws its per-sample parameters start
from (drawn on the generator's device, moved to the data's)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AugmentConfig"]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of the SeCo/MoCo-v2 view augmentation; validated on construction.

    ``brightness``, ``contrast`` and ``saturation`` v give factors uniform in
    [max(0, 1 - v), 1 + v]; ``hue`` h a shift uniform in [-h, h] turns; ``*_p`` are per-sample
    probabilities; ``blur_sigma`` is in pixels of the output image.
    """

    size: int = 224
    scale: tuple[float, float] = (0.2, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_p: float = 0.5
    blur_kernel: int = 23
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        _check(_is_int(self.size) and self.size > 0, f"size must be an int > 0, got {self.size!r}")
        lo, hi = self.scale
        _check(0 < lo <= hi <= 1, f"scale must satisfy 0 < lo <= hi <= 1, got {self.scale!r}")
        lo, hi = self.ratio
        _check(0 < lo <= hi, f"ratio must satisfy 0 < lo <= hi, got {self.ratio!r}")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            _check(value >= 0, f"{name} must be >= 0, got {value!r}")
        _check(0 <= self.hue <= 0.5, f"hue must be in [0, 0.5], got {self.hue!r}")
        for name in ("jitter_p", "gray_p", "blur_p", "flip_p"):
            value = getattr(self, name)
            _check(0 <= value <= 1, f"{name} must be in [0, 1], got {value!r}")
        lo, hi = self.blur_sigma
        _check(0 < lo <= hi, f"blur_sigma must satisfy 0 < lo <= hi, got {self.blur_sigma!r}")
        k = self.blur_kernel
        _check(
            _is_int(k) and k > 0 and k % 2 == 1,
            f"blur_kernel must be a positive odd int, got {k!r}",
        )
        _check(
            k // 2 < self.size,
            f"blur_kernel {k} too large for size {self.size} (reflect padding needs k // 2 < size)",
        )


def _uniform(generator: torch.Generator, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Uniform [0, 1) float32 numbers drawn on the generator's device, then moved to ``device``.

    A CPU generator feeding CUDA data goes through pinned memory with a non-blocking copy, so
    that the host does not wait for the device's queue.
    """
    u = torch.rand(shape, generator=generator, device=generator.device)
    if u.device.type == "cpu" and device.type == "cuda":
        return u.pin_memory().to(device, non_blocking=True)
    return u.to(device)


def _spread(u: Tensor, lo: float, hi: float) -> Tensor:
    """Uniform [0, 1) numbers mapped onto [lo, hi)."""
    return lo + (hi - lo) * u
