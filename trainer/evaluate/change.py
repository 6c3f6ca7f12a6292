"""Change detection with a frozen Siamese encoder and a small trained decoder.

Both dates pass through the same frozen encoder as a feature pyramid (timm
``features_only``); at every scale the absolute difference ``|f(a) − f(b)|`` is projected to
64 channels, upsampled to the finest scale and summed; two convolutions give a change logit per
pixel, upsampled to the input. Only the decoder learns (binary cross-entropy weighted for the
rare change class) on random crops of the training pairs. The decision threshold is chosen on
the validation pairs; precision, recall, F1 and IoU are counted over every pixel of every test
pair (whole images, tiled), never averaged per batch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from shared.progress import progress
from trainer.evaluate.features import prepare
from trainer.evaluate.metrics import BinaryCounts
from trainer.scaling import BandScaling

__all__ = ["PairSource", "ChangeDecoder", "UNetChangeDecoder", "change_detection"]


class PairSource(Protocol):
    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def indices(self, split: str) -> np.ndarray: ...


class ChangeDecoder(nn.Module):
    """Multi-scale feature differences (list of (B, C_s, H_s, W_s)) → change logits."""

    def __init__(self, channels: list[int], width: int = 64) -> None:
        super().__init__()
        self.reduce = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        self.head = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 1, 1),
        )

    def forward(self, diffs: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        target = diffs[0].shape[-2:]
        fused = sum(
            F.interpolate(r(d), size=target, mode="bilinear", align_corners=False)
            for r, d in zip(self.reduce, diffs, strict=True)
        )
        return F.interpolate(self.head(fused), size=size, mode="bilinear", align_corners=False)


class UNetChangeDecoder(nn.Module):
    """The official SeCo OSCD decoder's shape: U-Net-style, from the coarsest difference map up.

    ``diffs`` are ``|f(a) − f(b)|`` of conv1 and layer1–4 (timm ``features_only`` of a ResNet:
    strides 2, 4, 8, 16, 32). Each step upsamples ×2 to the next finer map, concatenates it and
    applies conv–BN–ReLU; a last ×2 upsampling and a 1×1 convolution give one logit per pixel.
    """

    def __init__(self, channels: list[int], width: int = 64) -> None:
        super().__init__()
        coarse_to_fine = channels[::-1]
        self.steps = nn.ModuleList()
        current = coarse_to_fine[0]
        for skip in coarse_to_fine[1:]:
            out = max(width, skip)
            self.steps.append(
                nn.Sequential(
                    nn.Conv2d(current + skip, out, 3, padding=1),
                    nn.BatchNorm2d(out),
                    nn.ReLU(inplace=True),
                )
            )
            current = out
        self.head = nn.Conv2d(current, 1, 1)

    def forward(self, diffs: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        maps = diffs[::-1]
        x = maps[0]
        for step, skip in zip(self.steps, maps[1:], strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = step(torch.cat([x, skip], dim=1))
        return F.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)


def _diffs(net: nn.Module, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return [(fa - fb).abs() for fa, fb in zip(net(a), net(b), strict=True)]


def _crops(
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    n: int,
    crop: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b, m = [], [], []
    for _ in range(n):
        pa, pb, pm = pairs[rng.integers(len(pairs))]
        h, w = pm.shape
        y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        flip = rng.random() < 0.5
        sl = (slice(None), slice(y, y + crop), slice(x, x + crop))
        ca, cb, cm = pa[sl], pb[sl], pm[y : y + crop, x : x + crop]
        if flip:
            ca, cb, cm = ca[..., ::-1], cb[..., ::-1], cm[..., ::-1]
        a.append(ca)
        b.append(cb)
        m.append(cm)
    return np.stack(a), np.stack(b), np.stack(m)


def _predict(
    net: nn.Module,
    decoder: nn.Module,
    pair: tuple[np.ndarray, np.ndarray, np.ndarray],
    scaling: BandScaling,
    tile: int,
    device: torch.device,
) -> np.ndarray:
    """Change probability (H, W) of a whole pair, tile by tile."""
    a, b, mask = pair
    h, w = mask.shape
    ph, pw = (-h) % tile, (-w) % tile
    pad = ((0, 0), (0, ph), (0, pw))
    a, b = np.pad(a, pad, mode="reflect"), np.pad(b, pad, mode="reflect")
    out = np.zeros((h + ph, w + pw), np.float32)
    with torch.no_grad():
        for y in range(0, h + ph, tile):
            for x in range(0, w + pw, tile):
                ta = prepare(a[None, :, y : y + tile, x : x + tile], scaling, tile, device)
                tb = prepare(b[None, :, y : y + tile, x : x + tile], scaling, tile, device)
                logits = decoder(_diffs(net, ta, tb), (tile, tile))
                out[y : y + tile, x : x + tile] = torch.sigmoid(logits)[0, 0].float().cpu().numpy()
    return out[:h, :w]


def change_detection(
    net: nn.Module,
    data: PairSource,
    scaling: BandScaling,
    device: torch.device,
    crop: int = 64,
    steps: int = 300,
    batch: int = 16,
    seed: int = 0,
    paper: bool = False,
    per_pair: list[BinaryCounts] | None = None,
) -> dict[str, float]:
    """Train the decoder on the ``train`` pairs; test metrics at the validation-best threshold.

    ``paper``: the official protocol instead — :class:`UNetChangeDecoder`, plain (unweighted)
    BCE, threshold 0.5. ``per_pair``, if given, receives the pixel counts of each test pair (for
    bootstrap intervals)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = net.to(device).eval()
    train = [data.pair(int(i)) for i in data.indices("train")]
    if not train:
        raise ValueError("change detection needs training pairs")
    crop = min(crop, *(p[2].shape[0] for p in train), *(p[2].shape[1] for p in train))
    probe = prepare(train[0][0][None, :, :crop, :crop], scaling, crop, device)
    channels = [f.shape[1] for f in net(probe)]
    decoder: nn.Module = (UNetChangeDecoder if paper else ChangeDecoder)(channels).to(device)
    positive = np.mean([p[2].mean() for p in train])
    weight = torch.tensor(
        1.0 if paper else float(np.clip((1 - positive) / max(positive, 1e-4), 1.0, 20.0)),
        device=device,
    )
    opt = torch.optim.Adam(decoder.parameters(), lr=1e-3)
    decoder.train()
    bar = progress(steps, "change decoder", "step")
    for _ in range(steps):
        bar.update(1)
        a, b, m = _crops(train, batch, crop, rng)
        ta, tb = prepare(a, scaling, crop, device), prepare(b, scaling, crop, device)
        target = torch.from_numpy(np.ascontiguousarray(m)).float().to(device)[:, None]
        logits = decoder(_diffs(net, ta, tb), (crop, crop))
        loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    bar.close()
    decoder.eval()
    threshold = 0.5 if paper else _best_threshold(net, decoder, data, scaling, crop, device)
    counts = BinaryCounts()
    test = data.indices("test")
    bar = progress(len(test), "change predictions", "pair")
    for i in test:
        bar.update(1)
        pair = data.pair(int(i))
        one = BinaryCounts().update(
            _predict(net, decoder, pair, scaling, crop, device) >= threshold, pair[2]
        )
        counts = counts + one
        if per_pair is not None:
            per_pair.append(one)
    bar.close()
    return {
        "precision": counts.precision,
        "recall": counts.recall,
        "f1": counts.f1,
        "iou": counts.iou,
        "threshold": threshold,
    }


def _best_threshold(
    net: nn.Module,
    decoder: nn.Module,
    data: PairSource,
    scaling: BandScaling,
    tile: int,
    device: torch.device,
) -> float:
    val = [data.pair(int(i)) for i in data.indices("val")]
    if not val:
        return 0.5
    bar = progress(len(val), "change threshold (val)", "pair")
    probs = []
    for p in val:
        probs.append((_predict(net, decoder, p, scaling, tile, device), p[2]))
        bar.update(1)
    bar.close()
    best, best_f1 = 0.5, -1.0
    for t in np.linspace(0.1, 0.9, 17):
        counts = BinaryCounts()
        for prob, truth in probs:
            counts.update(prob >= t, truth)
        if counts.f1 > best_f1:
            best, best_f1 = float(t), counts.f1
    return best
