"""Batched, device-side image augmentations for SeCo pre-training.

Images arrive on the device as floating point (B, C, H, W) batches in [0, 1]: a true RGB
triple (B4, B3, B2 in any order, told by the bands' roles, :class:`trainer.inputs.BandRoles`)
or any other bands (``B8,B4,B3`` is false colour: no hue, saturation or luma for it). Every
sample gets its own random parameters, drawn from the ``torch.Generator`` passed in, so a run
is reproducible from a seed.

Each step is split in two: ``sample_*_params`` draws every random number of the batch in one
call on the generator's device and moves the few resulting small tensors to the data's device;
``apply_*`` is a pure tensor function of the images and those parameters (no host
synchronisation, no Python branching on tensor values), which ``torch.compile`` traces whole.

- :mod:`trainer.augment_config`: ``AugmentConfig``, the settings.
- :mod:`trainer.augment_crop`: ``random_resized_crop``, RandomResizedCrop and flip in one pass.
- :mod:`trainer.augment_jitter`: ``colour_augment``, ColorJitter, grayscale and blur (per band
  for bands other than RGB), on the operations of :mod:`trainer.augment_colour`.
- here: ``DeviceAugment``, the two bundled, optionally compiled, and ``bench_augment``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from shared.layout.bands import RGB
from trainer.augment_config import AugmentConfig
from trainer.augment_crop import apply_crop, sample_crop_params
from trainer.augment_jitter import ColourParams, _in_rgb_order, apply_colour, sample_colour_params
from trainer.inputs import BandRoles

__all__ = ["DeviceAugment", "bench_augment"]


class DeviceAugment:
    """SeCo view augmentation bound to a config; call ``crop`` or ``augment`` per batch.

    With ``compile=True`` the pure ``apply_*`` parts go through ``torch.compile`` (parameter
    sampling stays eager: dynamo does not trace generators). ``roles``: the channels' bands;
    RGB colour operations run only when they are red, green and blue (in any order: they are
    put in R, G, B order for those operations and back); without roles, or for any other
    bands, every colour operation is per band.
    """

    def __init__(
        self,
        cfg: AugmentConfig | None = None,
        compile: bool = False,
        roles: BandRoles | None = None,
    ) -> None:
        self.cfg = cfg if cfg is not None else AugmentConfig()
        self.roles = roles
        self._crop: Callable[[Tensor, Tensor, Tensor, int], Tensor] = apply_crop
        self._colour: Callable[[Tensor, ColourParams], Tensor] = apply_colour
        if compile:
            self._crop = torch.compile(apply_crop)
            self._colour = torch.compile(apply_colour)

    def crop(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """(B, C, H, W) → (B, C, size, size): random resized crop, no flip."""
        n, _, height, width = x.shape
        params = sample_crop_params(n, height, width, self.cfg, generator, x.device)
        return self._crop(x, params.boxes, params.flip, self.cfg.size)

    def augment(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """(B, C, H, W) → (B, C, size, size): crop with flip, then the colour augmentations."""
        n, channels, height, width = x.shape
        crop = sample_crop_params(n, height, width, self.cfg, generator, x.device, flip=True)
        out = self._crop(x, crop.boxes, crop.flip, self.cfg.size)
        colour = sample_colour_params(n, channels, self.cfg, generator, x.device, self.roles)
        return _in_rgb_order(self._colour, out, colour, self.roles)


def bench_augment(
    batch: int = 256,
    channels: int = 3,
    device: str = "cpu",
    side: int = 264,
    repeats: int = 5,
    compile: bool = False,
) -> dict[str, float]:
    """Milliseconds per call of ``DeviceAugment.augment`` and ``.crop`` (median of ``repeats``).

    Input: a random (batch, channels, side, side) float32 batch on ``device``; 3 channels are
    B4, B3, B2 (the RGB operations), other counts any bands.
    """
    dev = torch.device(device)
    aug = DeviceAugment(compile=compile, roles=BandRoles(RGB) if channels == 3 else None)
    g = torch.Generator(device=dev).manual_seed(0)
    x = torch.rand((batch, channels, side, side), generator=g, device=dev)

    def timed(fn: Callable[[Tensor, torch.Generator], Tensor]) -> float:
        fn(x, g)  # warm-up (and compilation)
        times = []
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            start = time.perf_counter()
            fn(x, g)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times.append((time.perf_counter() - start) * 1e3)
        return sorted(times)[len(times) // 2]

    return {"augment_ms": timed(aug.augment), "crop_ms": timed(aug.crop)}
