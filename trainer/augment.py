"""Batched, device-side image augmentations for SeCo pre-training.

Images arrive on the device as floating point (B, C, H, W) batches in [0, 1]: a true RGB
triple (B4, B3, B2 in any order, told by the bands' roles, :class:`trainer.inputs.BandRoles`)
or any other bands (``B8,B4,B3`` is false colour: no hue, saturation or luma for it). Every sample gets its own random parameters,
drawn from the ``torch.Generator`` passed in, so a run is reproducible from a seed.

Each step is split in two: ``sample_*_params`` draws every random number of the batch in one
call on the generator's device and moves the few resulting small tensors to the data's device;
``apply_*`` is a pure tensor function of the images and those parameters (no host
synchronisation, no Python branching on tensor values), which ``torch.compile`` traces whole.

- ``random_resized_crop``: torchvision's RandomResizedCrop box (10 vectorised tries, centre
  crop fallback), bilinear resampling equal to ``resized_crop(..., antialias=False)``, and the
  horizontal flip folded into the same ``grid_sample`` call.
- ``colour_augment``: ColorJitter (random order per sample), grayscale, Gaussian blur, for RGB;
  per-band brightness/contrast, band-mean grayscale and the same blur for other bands.
- ``DeviceAugment``: the two bundled, optionally compiled.

Choices. The ColorJitter order is drawn per sample (a uniform permutation each, as torchvision
does per image); brightness, contrast and saturation are one linear round each, so a sample's
ops before its hue rotation run in 3 rounds before it and the rest in 3 rounds after, padded
with exact identities. The flip mirrors the crop's output (RandomResizedCrop then
RandomHorizontalFlip) by reversing the sampling columns. The blur runs on the whole batch with
one-hot (exactly identity) kernels for the samples not drawn: no data-dependent shapes and no
host synchronisation, at the price of convolving ~2× the samples at ``blur_p`` = 0.5.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from shared.layout.bands import RGB
from shared.layout.native import FACTOR, group_bands
from trainer.augment_colour import (
    adjust_hue,
    band_mean,
    gaussian_blur,
    gaussian_kernels,
    linear_round,
    mix_bands,
    rgb_to_grayscale,
)
from trainer.inputs import BandRoles

__all__ = [
    "AugmentConfig",
    "ColourParams",
    "CropParams",
    "DeviceAugment",
    "apply_colour",
    "apply_crop",
    "bench_augment",
    "colour_augment",
    "random_resized_crop",
    "sample_colour_params",
    "sample_crop_params",
    "to_grid",
]

CROP_TRIES = 10
"""Boxes drawn per sample before falling back to the centre crop (torchvision's number)."""


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


# --------------------------------------------------------------------------------------------
# Crop and flip
# --------------------------------------------------------------------------------------------


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


def to_grid(
    batch: dict[str, Tensor],
    bands: tuple[str, ...],
    convert: Callable[[Tensor, tuple[str, ...]], Tensor],
    mode: str = "bilinear",
) -> Tensor:
    """The images of a batch on the 10 m grid, ``(…, C, H, W)`` in ``bands`` order.

    ``batch`` holds ``pixels`` (already one grid) or ``pixels_10m``/``pixels_20m``/
    ``pixels_60m`` (layout 3, each group at its own resolution). ``convert(x, group_bands)``
    maps a group's stored DN to the model's scale (:meth:`BandScaling.to_unit`) at its own
    resolution; then each 20/60 m group is brought to the 10 m grid by one interpolation
    (``mode``: ``"bilinear"``, area-aligned as ``align_corners=False``, or ``"nearest"``),
    before any crop, so the crop resamples every band once more exactly as before.
    """
    if "pixels" in batch:
        return convert(batch["pixels"], bands)
    groups = group_bands(bands)
    parts = {g: convert(batch[f"pixels_{g}"], names) for g, names in groups.items()}
    size = max(x.shape[-1] * FACTOR[g] for g, x in parts.items())
    some = next(iter(parts.values()))
    lead = some.shape[:-3]
    out = some.new_empty((*lead, len(bands), size, size))
    for g, names in groups.items():
        x = parts[g]
        if FACTOR[g] > 1:
            flat = x.reshape(-1, *x.shape[-3:])
            if mode == "bilinear":
                flat = F.interpolate(flat, size=(size, size), mode="bilinear", align_corners=False)
            else:
                flat = F.interpolate(flat, size=(size, size), mode="nearest")
            x = flat.reshape(*lead, *flat.shape[-3:])
        out[..., [bands.index(b) for b in names], :, :] = x
    return out


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


# --------------------------------------------------------------------------------------------
# Colour, grayscale, blur
# --------------------------------------------------------------------------------------------

# Operation ids of the RGB ColorJitter; IDENTITY pads rounds a sample does not use.
BRIGHTNESS, CONTRAST, SATURATION, HUE, IDENTITY = range(5)


class ColourParams(NamedTuple):
    """Per-sample colour parameters (all on the data's device).

    What ``apply_colour`` reads: ``before`` (B, R, C', 3) and ``after`` (B, R', C', 3), the
    coefficients (a, b, c) of the linear rounds run before and after the hue rotation (C' = 1
    for RGB, one row per band otherwise; see ``augment_colour``); ``hue`` (B,) shift in turns,
    0 where jitter is off; ``jitter``, ``gray`` (B,) bool; ``blur`` (B, K) 1-D blur kernels,
    one-hot for samples that are not blurred.

    For inspection: ``order`` (B, 4) RGB op ids in order of application (0 brightness,
    1 contrast, 2 saturation, 3 hue), (B, 2) otherwise (brightness, contrast);
    ``factors`` (B, 4) RGB (brightness, contrast, saturation factors, hue shift), (B, 2, C)
    otherwise (per-band brightness and contrast factors); ``sigma`` (B,) blur sigmas, drawn
    for every sample.
    """

    before: Tensor
    after: Tensor
    hue: Tensor
    jitter: Tensor
    gray: Tensor
    blur: Tensor
    order: Tensor
    factors: Tensor
    sigma: Tensor


def _factor(u: Tensor, v: float) -> Tensor:
    """ColorJitter factor: uniform in [max(0, 1 - v), 1 + v]."""
    return _spread(u, max(0.0, 1.0 - v), 1.0 + v)


def _coefficients(op: Tensor, factor: Tensor) -> Tensor:
    """(a, b, c) of a linear round: op (…,) int ids, factor (…,) → (…, 3).

    Hue and IDENTITY give the identity (1, 0, 0): hue is not a linear round.
    """
    one, zero = torch.ones_like(factor), torch.zeros_like(factor)
    a = torch.where((op == HUE) | (op == IDENTITY), one, factor)
    b = torch.where(op == SATURATION, 1.0 - factor, zero)
    c = torch.where(op == CONTRAST, 1.0 - factor, zero)
    return torch.stack((a, b, c), dim=-1)


def _rgb_rounds(order: Tensor, factors: Tensor, jitter: Tensor) -> tuple[Tensor, Tensor]:
    """Linear rounds around the hue rotation, for a per-sample order of the 4 RGB ops.

    order: (B, 4) op ids; factors: (B, 4) indexed by op id; jitter: (B,) bool. A sample whose
    hue comes at position p runs its first p ops in the 3 rounds before the hue rotation and
    the other 3 - p in the 3 rounds after, padded with the identity. Returns two (B, 3, 1, 3).
    """
    n = order.shape[0]
    hue_at = (order == HUE).int().argmax(dim=1, keepdim=True)  # (B, 1)
    slot = torch.arange(3, device=order.device)[None, :]  # (1, 3)
    before = torch.where(slot < hue_at, order[:, :3], IDENTITY)
    after_at = hue_at + 1 + slot
    after = torch.where(after_at <= 3, order.gather(1, after_at.clamp(max=3)), IDENTITY)
    ops = torch.cat((before, after), dim=1)  # (B, 6)
    ops = torch.where(jitter[:, None], ops, IDENTITY)
    coeffs = _coefficients(ops, factors.gather(1, ops.clamp(max=HUE)))  # (B, 6, 3)
    coeffs = coeffs.view(n, 6, 1, 3)
    return coeffs[:, :3], coeffs[:, 3:]


def _band_rounds(order: Tensor, factors: Tensor, jitter: Tensor) -> Tensor:
    """Two per-band rounds (brightness and contrast in ``order``): (B, 2, C, 3).

    order: (B, 2) op ids; factors: (B, 2, C) indexed by op id; jitter: (B,) bool.
    """
    channels = factors.shape[2]
    ops = torch.where(jitter[:, None], order, IDENTITY)[:, :, None].expand(-1, -1, channels)
    return _coefficients(ops, factors.gather(1, order[:, :, None].expand(-1, -1, channels)))


def sample_colour_params(
    n: int,
    channels: int,
    cfg: AugmentConfig,
    generator: torch.Generator,
    device: torch.device | str,
    roles: BandRoles | None = None,
) -> ColourParams:
    """Draw the colour parameters of ``n`` samples with ``channels`` bands, on ``device``.

    Channels whose ``roles`` are red, green and blue (in any order; :func:`apply_colour` takes
    them in R, G, B order, see :func:`_in_rgb_order`): ColorJitter with probability ``jitter_p``, its four operations in a
    random order per sample (a uniform permutation each), then grayscale, then blur. Other
    bands: per-band brightness and contrast factors (the two in a random order per sample),
    band-mean grayscale, blur. One draw of (n, 12) (RGB) or (n, 5 + 2C) uniforms.
    """
    device = torch.device(device)
    rgb = roles is not None and roles.rgb is not None
    if roles is not None and len(roles.names) != channels:
        raise ValueError(f"{len(roles.names)} band roles for {channels} channels")
    u = _uniform(generator, (n, 12 if rgb else 5 + 2 * channels), device)
    jitter = u[:, 0] < cfg.jitter_p
    gray = u[:, 1] < cfg.gray_p
    blurred = u[:, 2] < cfg.blur_p
    sigma = _spread(u[:, 3], *cfg.blur_sigma)
    if rgb:
        shift = cfg.hue * (2.0 * u[:, 4] - 1.0)
        factors = torch.stack(
            (
                _factor(u[:, 5], cfg.brightness),
                _factor(u[:, 6], cfg.contrast),
                _factor(u[:, 7], cfg.saturation),
                shift,
            ),
            dim=1,
        )
        order = torch.argsort(u[:, 8:12], dim=1)
        hue = torch.where(jitter, shift, 0.0)
        before, after = _rgb_rounds(order, factors, jitter)
    else:
        factors = torch.stack(
            (
                _factor(u[:, 5 : 5 + channels], cfg.brightness),
                _factor(u[:, 5 + channels :], cfg.contrast),
            ),
            dim=1,
        )
        first = (u[:, 4] >= 0.5).long()  # 0: brightness first, 1: contrast first
        order = torch.stack((first, 1 - first), dim=1)
        hue = torch.zeros(n, device=device)
        before = _band_rounds(order, factors, jitter)
        after = before[:, :0]
    centre = (torch.arange(cfg.blur_kernel, device=device) == cfg.blur_kernel // 2).float()
    kernels = torch.where(blurred[:, None], gaussian_kernels(sigma, cfg.blur_kernel), centre)
    return ColourParams(before, after, hue, jitter, gray, kernels, order, factors, sigma)


def _linear(x: Tensor, coeffs: Tensor, rgb: bool) -> Tensor:
    """One linear round; coeffs (B, C', 3)."""
    if rgb:
        return linear_round(x, coeffs[:, 0, 0], coeffs[:, 0, 1], coeffs[:, 0, 2])
    return mix_bands(x, coeffs[..., 0], coeffs[..., 2])


def apply_colour(x: Tensor, params: ColourParams) -> Tensor:
    """Jitter, grayscale and blur with given per-sample parameters.

    x: (B, C, S, S) in [0, 1]; params from ``sample_colour_params`` for the same B and C
    (RGB parameters — four jitter factors per sample — for channels in R, G, B order).
    Returns (B, C, S, S) in x's dtype, clamped to [0, 1].
    """
    rgb = params.factors.dim() == 2  # RGB: (B, 4); per band: (B, 2, C)
    for r in range(params.before.shape[1]):
        x = _linear(x, params.before[:, r], rgb)
    if rgb:
        x = torch.where(params.jitter[:, None, None, None], adjust_hue(x, params.hue), x)
    for r in range(params.after.shape[1]):
        x = _linear(x, params.after[:, r], rgb)
    gray = rgb_to_grayscale(x) if rgb else band_mean(x)
    x = torch.where(params.gray[:, None, None, None], gray, x)
    return gaussian_blur(x, params.blur).clamp_(0.0, 1.0)


def _in_rgb_order(
    apply: Callable[[Tensor, ColourParams], Tensor],
    x: Tensor,
    params: ColourParams,
    roles: BandRoles | None,
) -> Tensor:
    """``apply(x, params)`` with a red, green, blue triple put in R, G, B order and back."""
    rgb = roles.rgb if roles is not None else None
    if rgb is None or rgb == (0, 1, 2):
        return apply(x, params)
    back = [rgb.index(c) for c in range(3)]  # R, G, B order → the input's channel order
    return apply(x[:, list(rgb)], params)[:, back]


def colour_augment(
    x: Tensor, cfg: AugmentConfig, generator: torch.Generator, roles: BandRoles | None = None
) -> Tensor:
    """(B, C, S, S) in [0, 1] → same shape and dtype: random jitter, grayscale, blur per sample
    (RGB operations where ``roles`` say the channels are red, green and blue)."""
    params = sample_colour_params(x.shape[0], x.shape[1], cfg, generator, x.device, roles)
    return _in_rgb_order(apply_colour, x, params, roles)


# --------------------------------------------------------------------------------------------
# Bundle and benchmark
# --------------------------------------------------------------------------------------------


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
