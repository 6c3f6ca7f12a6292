"""Device-side augmentations against torchvision's functional ops, plus statistics and contracts."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
TF = pytest.importorskip("torchvision.transforms.functional")

from trainer.augment import DeviceAugment, bench_augment  # noqa: E402
from trainer.augment_colour import (  # noqa: E402
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    band_mean,
    gaussian_blur,
    gaussian_kernels,
    rgb_to_grayscale,
)
from trainer.augment_config import AugmentConfig  # noqa: E402
from trainer.augment_crop import apply_crop, random_resized_crop, sample_crop_params  # noqa: E402
from trainer.augment_jitter import (  # noqa: E402
    apply_colour,
    colour_augment,
    sample_colour_params,
)
from trainer.inputs import BandRoles  # noqa: E402

OFF = {"jitter_p": 0.0, "gray_p": 0.0, "blur_p": 0.0}
RGB_ROLES = BandRoles(("B4", "B3", "B2"))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int, c: int = 3, h: int = 32, w: int | None = None, seed: int = 0) -> torch.Tensor:
    """Random images in [0, 1] with some flat regions, saturated pixels and grey pixels."""
    x = torch.rand((n, c, h, w or h), generator=gen(seed))
    x[:, :, : h // 4] = 1.0
    x[:, :, h // 4 : h // 3] = x[:, :1, h // 4 : h // 3]  # grey rows
    x[:, :, -2:] = 0.0
    return x


def per_sample(fn, x: torch.Tensor, values: torch.Tensor, *args) -> torch.Tensor:
    return torch.stack([fn(x[i], float(values[i]), *args) for i in range(x.shape[0])])


# ------------------------------------------------------------------------------ crop and flip


BOXES = [
    (0, 0, 264, 200),  # whole image, downsampled rows
    (10, 20, 100, 150),
    (5, 7, 230, 30),
    (100, 100, 50, 60),
    (263, 199, 1, 1),  # one pixel in the corner
    (0, 0, 11, 200),
]


def test_crop_matches_torchvision_resized_crop():
    x = torch.rand((len(BOXES), 3, 264, 200), generator=gen())
    boxes = torch.tensor(BOXES)
    out = apply_crop(x, boxes, torch.zeros(len(BOXES), dtype=torch.bool), 224)
    assert out.shape == (len(BOXES), 3, 224, 224)
    for i, (top, left, h, w) in enumerate(BOXES):
        ref = TF.resized_crop(x[i], top, left, h, w, [224, 224], antialias=False)
        torch.testing.assert_close(out[i], ref, atol=1e-4, rtol=0)


def test_crop_matches_torchvision_when_downsampling():
    x = torch.rand((2, 3, 264, 264), generator=gen(1))
    boxes = torch.tensor([[0, 0, 264, 264], [3, 40, 220, 224]])
    out = apply_crop(x, boxes, torch.zeros(2, dtype=torch.bool), 24)
    for i, (top, left, h, w) in enumerate(boxes.tolist()):
        ref = TF.resized_crop(x[i], top, left, h, w, [24, 24], antialias=False)
        torch.testing.assert_close(out[i], ref, atol=1e-4, rtol=0)


def test_flipped_crop_is_the_mirror_of_the_crop():
    x = torch.rand((len(BOXES), 2, 264, 200), generator=gen(2))
    boxes = torch.tensor(BOXES)
    flip = torch.tensor([True, False, True, True, False, True])
    plain = apply_crop(x, boxes, torch.zeros_like(flip), 64)
    mixed = apply_crop(x, boxes, flip, 64)
    assert torch.equal(mixed[flip], plain[flip].flip(-1))
    assert torch.equal(mixed[~flip], plain[~flip])


@pytest.mark.parametrize("height, width", [(264, 264), (200, 300)])
def test_random_boxes_inside_and_within_bounds(height, width):
    cfg = AugmentConfig()
    n = 50_000
    params = sample_crop_params(n, height, width, cfg, gen(3), "cpu", flip=True)
    top, left, h, w = params.boxes.T
    assert params.boxes.dtype == torch.int64
    assert (top >= 0).all() and (left >= 0).all() and (h >= 1).all() and (w >= 1).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    area = (h * w).double() / (height * width)
    ratio = w.double() / h.double()
    # Integer rounding of the sides moves the box a little off the drawn area and ratio.
    slack = 2.5 / min(h.min().item(), w.min().item())
    assert area.min() >= cfg.scale[0] * (1 - slack) and area.max() <= 1.0
    assert ratio.min() >= cfg.ratio[0] * (1 - slack) and ratio.max() <= cfg.ratio[1] * (1 + slack)
    # Log aspect ratios spread over the whole allowed range, area fractions too.
    log_ratio = ratio.log()
    assert log_ratio.min() < math.log(cfg.ratio[0]) + 0.02
    assert log_ratio.max() > math.log(cfg.ratio[1]) - 0.02
    assert area.min() < cfg.scale[0] + 0.01
    # Offsets are uniform: the box centre is unbiased.
    centre_y = (top + h / 2).double().mean() / height
    centre_x = (left + w / 2).double().mean() / width
    assert abs(centre_y - 0.5) < 0.01 and abs(centre_x - 0.5) < 0.01
    assert abs(params.flip.double().mean().item() - cfg.flip_p) < 0.01


def test_boxes_fall_back_to_the_centre_crop():
    # No box of such an elongated ratio fits a square image: centre crop, ratio clamped.
    cfg = AugmentConfig(scale=(0.9, 1.0), ratio=(3.0, 4.0))
    params = sample_crop_params(64, 60, 60, cfg, gen(), "cpu")
    assert (params.boxes == torch.tensor([20, 0, 20, 60])).all()
    assert not params.flip.any()


def test_random_resized_crop_shape_range_and_flip_rate():
    cfg = AugmentConfig(size=16)
    x = torch.rand((4000, 1, 24, 24), generator=gen(4))
    x[..., :12] = 0.0  # left half dark: mirrored crops are brighter on the left
    params = sample_crop_params(4000, 24, 24, cfg, gen(5), "cpu", flip=True)
    out = random_resized_crop(x, cfg, gen(5), flip=True)
    assert out.shape == (4000, 1, 16, 16) and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    again = apply_crop(x, params.boxes, params.flip, 16)
    assert torch.equal(out, again)
    assert abs(params.flip.float().mean().item() - 0.5) < 0.03
    unflipped = random_resized_crop(x, cfg, gen(5))
    torch.testing.assert_close(unflipped[params.flip], out[params.flip].flip(-1))


# ------------------------------------------------------------------------------ colour ops


FACTORS = torch.tensor([0.0, 0.3, 0.6, 1.0, 1.0, 1.4, 2.0, 3.0])
SHIFTS = torch.tensor([-0.5, -0.3, -0.1, -0.01, 0.0, 0.05, 0.25, 0.5])


@pytest.mark.parametrize(
    "ours, theirs, values",
    [
        (adjust_brightness, TF.adjust_brightness, FACTORS),
        (adjust_contrast, TF.adjust_contrast, FACTORS),
        (adjust_saturation, TF.adjust_saturation, FACTORS),
        (adjust_hue, TF.adjust_hue, SHIFTS),
    ],
    ids=["brightness", "contrast", "saturation", "hue"],
)
def test_colour_ops_match_torchvision(ours, theirs, values):
    x = images(len(values), h=24)
    out = ours(x, values)
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out, per_sample(theirs, x, values), atol=1e-5, rtol=0)


def test_grayscale_matches_torchvision():
    x = images(4)
    torch.testing.assert_close(rgb_to_grayscale(x), TF.rgb_to_grayscale(x, 3), atol=1e-6, rtol=0)


def test_blur_matches_torchvision_per_sample_sigmas():
    x = images(6, c=2, h=40, w=30)
    sigma = torch.tensor([0.1, 0.5, 1.0, 1.3, 2.0, 3.5])
    out = gaussian_blur(x, gaussian_kernels(sigma, 23))
    for i, s in enumerate(sigma.tolist()):
        ref = TF.gaussian_blur(x[i], [23, 23], [s, s])
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=0)
    centre = torch.zeros(2, 23)
    centre[:, 11] = 1.0
    assert torch.equal(gaussian_blur(x[:2], centre), x[:2])


def test_jitter_applies_the_sampled_order_per_sample():
    cfg = AugmentConfig(jitter_p=1.0, gray_p=0.0, blur_p=0.0)
    x = images(48, h=16)
    params = sample_colour_params(48, 3, cfg, gen(6), "cpu", RGB_ROLES)
    orders = {tuple(row) for row in params.order.tolist()}
    assert len(orders) > 12  # many of the 24 orders show up
    out = apply_colour(x, params)
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for i in range(48):
        ref = x[i]
        for op in params.order[i].tolist():
            ref = ops[op](ref, float(params.factors[i, op]))
        torch.testing.assert_close(out[i], ref, atol=2e-5, rtol=0)


def test_colour_factors_in_range():
    cfg = AugmentConfig()
    p = sample_colour_params(10_000, 3, cfg, gen(7), "cpu", RGB_ROLES)
    for k, v in enumerate((cfg.brightness, cfg.contrast, cfg.saturation)):
        assert p.factors[:, k].min() >= 1 - v and p.factors[:, k].max() <= 1 + v
    assert p.factors[:, 3].abs().max() <= cfg.hue
    assert p.sigma.min() >= cfg.blur_sigma[0] and p.sigma.max() <= cfg.blur_sigma[1]
    assert torch.equal(p.order.sort(dim=1).values, torch.arange(4).expand(10_000, 4))


def changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).flatten(1).abs().amax(1) > 1e-6


@pytest.mark.parametrize(
    "which, p",
    [("jitter_p", 0.8), ("gray_p", 0.2), ("blur_p", 0.5), ("jitter_p", 0.3), ("gray_p", 0.0)],
)
def test_probabilities_are_honoured(which, p):
    n = 4000
    # Constant-ish colour images: a colour per sample plus a little texture.
    colour = torch.rand((n, 3, 1, 1), generator=gen(8)) * 0.6 + 0.2
    x = colour + 0.05 * torch.rand((n, 3, 16, 16), generator=gen(9))
    # (sigma 0.1 leaves a picture unchanged to float precision: no such sigmas here)
    cfg = AugmentConfig(**{**OFF, which: p}, blur_sigma=(0.5, 2.0))
    out = colour_augment(x, cfg, gen(10), RGB_ROLES)
    params = sample_colour_params(n, 3, cfg, gen(10), "cpu", RGB_ROLES)
    flag = {"jitter_p": params.jitter, "gray_p": params.gray, "blur_p": params.blur[:, 11] < 1}
    assert torch.equal(changed(out, x), flag[which])
    assert abs(flag[which].float().mean().item() - p) < 0.03
    if which == "gray_p":
        grey = (out.amax(1) - out.amin(1)).flatten(1).amax(1) == 0
        assert torch.equal(grey, params.gray)


# ------------------------------------------------------------------------------ multispectral


def test_multispectral_grayscale_is_the_band_mean():
    x = images(64, c=13, h=16)
    cfg = AugmentConfig(**{**OFF, "gray_p": 0.5})
    out = colour_augment(x, cfg, gen(11))
    gray = sample_colour_params(64, 13, cfg, gen(11), "cpu").gray
    assert 0 < gray.sum() < 64
    torch.testing.assert_close(out[gray], band_mean(x[gray]).contiguous())
    assert torch.equal(out[~gray], x[~gray])


def test_multispectral_jitter_is_per_band_and_in_range():
    x = 0.2 + 0.5 * torch.rand((32, 13, 16, 16), generator=gen(12))
    cfg = AugmentConfig(**{**OFF, "jitter_p": 1.0, "contrast": 0.0})  # brightness alone
    out = colour_augment(x, cfg, gen(13))
    params = sample_colour_params(32, 13, cfg, gen(13), "cpu")
    gain = (out / x).flatten(2).mean(2)  # (B, 13): one factor per band and sample
    torch.testing.assert_close(gain, params.factors[:, 0].clamp(max=1 / 0.7), atol=1e-4, rtol=0)
    assert gain.std(dim=1).min() > 0.05  # bands change independently
    cfg = AugmentConfig(jitter_p=1.0, gray_p=0.3, blur_p=0.5, brightness=0.8, contrast=0.8)
    out = colour_augment(images(32, c=13, h=24), cfg, gen(14))
    assert out.shape == (32, 13, 24, 24) and out.min() >= 0 and out.max() <= 1
    orders = sample_colour_params(32, 13, cfg, gen(14), "cpu").order
    assert 0 < orders[:, 0].sum() < 32  # both orders occur


def test_multispectral_contrast_uses_each_band_mean():
    x = images(8, c=5, h=16)
    cfg = AugmentConfig(**{**OFF, "jitter_p": 1.0, "brightness": 0.0})
    out = colour_augment(x, cfg, gen(15))
    f = sample_colour_params(8, 5, cfg, gen(15), "cpu").factors[:, 1, :, None, None]
    mean = x.mean(dim=(-2, -1), keepdim=True)
    torch.testing.assert_close(out, (f * x + (1 - f) * mean).clamp(0, 1))


def test_multispectral_blur_matches_torchvision():
    x = images(8, c=13, h=24)
    cfg = AugmentConfig(**{**OFF, "blur_p": 1.0})
    out = colour_augment(x, cfg, gen(16))
    sigma = sample_colour_params(8, 13, cfg, gen(16), "cpu").sigma
    for i, s in enumerate(sigma.tolist()):
        ref = TF.gaussian_blur(x[i], [23, 23], [s, s])
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------ contracts


@pytest.mark.parametrize("channels", [3, 13])
def test_same_seed_same_views_other_seed_other_views(channels):
    x = torch.rand((8, channels, 40, 40), generator=gen(17))
    aug = DeviceAugment(AugmentConfig(size=24))
    a = aug.augment(x, gen(1))
    assert torch.equal(a, aug.augment(x, gen(1)))
    assert not torch.equal(a, aug.augment(x, gen(2)))
    assert torch.equal(aug.crop(x, gen(3)), aug.crop(x, gen(3)))
    assert torch.equal(aug.crop(x, gen(3)), random_resized_crop(x, aug.cfg, gen(3)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels", [3, 13])
def test_shapes_and_dtypes(dtype, channels):
    x = torch.rand((6, channels, 48, 40), generator=gen(18))
    aug = DeviceAugment(AugmentConfig(size=32))
    out = aug.augment(x.to(dtype), gen(19))
    assert out.shape == (6, channels, 32, 32) and out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1
    assert aug.crop(x.to(dtype), gen(19)).dtype == dtype
    reference = aug.augment(x, gen(19))
    torch.testing.assert_close(out.float(), reference, atol=0.05, rtol=0)


@pytest.mark.parametrize(
    "field, value",
    [
        ("size", 0),
        ("size", -3),
        ("size", 224.0),
        ("scale", (0.0, 1.0)),
        ("scale", (0.5, 1.2)),
        ("scale", (0.8, 0.2)),
        ("ratio", (0.0, 1.0)),
        ("ratio", (2.0, 1.0)),
        ("brightness", -0.1),
        ("hue", 0.7),
        ("jitter_p", 1.5),
        ("gray_p", -0.2),
        ("blur_p", float("nan")),
        ("flip_p", 2.0),
        ("blur_sigma", (0.0, 2.0)),
        ("blur_kernel", 22),
        ("blur_kernel", 0),
        ("blur_kernel", 449),
    ],
)
def test_bad_config_raises_with_the_value(field, value):
    with pytest.raises(ValueError, match=field) as err:
        AugmentConfig(**{field: value})
    assert repr(value) in str(err.value) or str(value) in str(err.value)


def test_apply_functions_trace_whole_under_torch_compile():
    torch._dynamo.reset()
    cfg = AugmentConfig(size=16, blur_kernel=5)
    for channels in (3, 13):
        x = torch.rand((4, channels, 24, 24), generator=gen(20))
        crop = sample_crop_params(4, 24, 24, cfg, gen(21), "cpu", flip=True)
        colour = sample_colour_params(
            4, channels, cfg, gen(21), "cpu", RGB_ROLES if channels == 3 else None
        )
        eager = apply_colour(apply_crop(x, crop.boxes, crop.flip, 16), colour)
        crop_fn = torch.compile(apply_crop, fullgraph=True, backend="eager")
        colour_fn = torch.compile(apply_colour, fullgraph=True, backend="eager")
        traced = colour_fn(crop_fn(x, crop.boxes, crop.flip, 16), colour)
        torch.testing.assert_close(traced, eager)


def test_bench_augment_reports_milliseconds():
    result = bench_augment(batch=2, channels=3, side=40, repeats=1)
    assert set(result) == {"augment_ms", "crop_ms"}
    assert all(v > 0 for v in result.values())


def _hue_only(size: int = 16) -> AugmentConfig:
    """Jitter always on, with hue the only operation that changes a picture."""
    return AugmentConfig(
        size=size, scale=(1.0, 1.0), ratio=(1.0, 1.0), brightness=0.0, contrast=0.0,
        saturation=0.0, hue=0.5, jitter_p=1.0, gray_p=0.0, blur_p=0.0, flip_p=0.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    "bands, rgb",
    [
        (("B4", "B3", "B2"), True),
        (("B2", "B3", "B4"), True),
        (("B3", "B2", "B4"), True),
        (("B8", "B4", "B3"), False),
        (("B4", "B3", "B2", "B8"), False),
    ],
)
def test_colour_operations_follow_the_band_roles(bands, rgb):
    """Hue rotates only a true red, green, blue triple (in any order, each band keeping its
    role); false colour such as B8,B4,B3 gets per-band operations and no hue rotation."""
    roles = BandRoles(bands)
    assert (roles.rgb is not None) is rgb
    colour = torch.tensor([0.7, 0.3, 0.1, 0.5][: len(bands)]).view(1, -1, 1, 1)
    x = colour.expand(4, len(bands), 16, 16).contiguous()
    out = DeviceAugment(_hue_only(), roles=roles).augment(x, gen(30))
    assert torch.equal(changed(out, x), torch.full((4,), rgb))  # hue moved every sample, or none
    if rgb:  # the same rotation as on R, G, B in that order
        order = [bands.index(b) for b in ("B4", "B3", "B2")]
        plain = DeviceAugment(_hue_only(), roles=BandRoles(("B4", "B3", "B2")))
        reference = plain.augment(x[:, order], gen(30))
        torch.testing.assert_close(out[:, order], reference)


def test_without_roles_three_channels_are_not_taken_for_rgb():
    x = torch.tensor([0.7, 0.3, 0.1]).view(1, 3, 1, 1).expand(2, 3, 16, 16).contiguous()
    assert torch.equal(DeviceAugment(_hue_only()).augment(x, gen(31)), x)
    with pytest.raises(ValueError, match="3 band roles for 4 channels"):
        sample_colour_params(2, 4, _hue_only(), gen(31), "cpu", RGB_ROLES)
