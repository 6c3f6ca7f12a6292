"""The colour step of a view: ColorJitter, grayscale and Gaussian blur for RGB; per-band
brightness/contrast, band-mean grayscale and the same blur for other bands.

``sample_colour_params`` draws every parameter of a batch at once; ``apply_colour`` applies
them with the pure operations of :mod:`trainer.augment_colour`. The ColorJitter order is drawn
per sample (a uniform permutation each, as torchvision does per image); brightness, contrast
and saturation are one linear round each, so a sample's ops before its hue rotation run in 3
rounds before it and the rest in 3 rounds after, padded with exact identities. The blur runs
on the whole batch with one-hot (exactly identity) kernels for the samples not drawn: no
data-dependent shapes and no host synchronisation, at the price of convolving ~2× the samples
at ``blur_p`` = 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from trainer.augment_colour import (
    adjust_hue,
    band_mean,
    gaussian_blur,
    gaussian_kernels,
    linear_round,
    mix_bands,
    rgb_to_grayscale,
)
from trainer.augment_config import AugmentConfig, _spread, _uniform
from trainer.inputs import BandRoles

__all__ = ["ColourParams", "apply_colour", "colour_augment", "sample_colour_params"]

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
