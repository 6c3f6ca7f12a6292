"""``--protocol paper``: the official SeCo evaluation settings, per task, beside our faster default.

| task | input | head | loss, optimiser | metric |
|---|---|---|---|---|
| EuroSAT | RGB at its native 64 px, the encoder's own scaling | linear on frozen features | cross-entropy, Adam | accuracy |
| BigEarthNet | RGB, each band clipped to mean ± 2σ (of 512 seeded training patches) and quantised to uint8, resized to 128 px | dropout 0.2 + linear on frozen features | multi-label soft margin, Adam | micro mAP |
| OSCD | B4/B3/B2 of each image min/max-scaled to uint8, 96 × 96 crops | U-Net-style decoder on ``abs(f(a) − f(b))`` of conv1 and layer1–4 | BCE, Adam | F1 at threshold 0.5 |

Heads train for ``epochs`` (100 by default, as the paper; tiny in tests) with Adam (lr 1e-3,
batch 64 — our choice where the paper does not say) and are scored after the last epoch, with
no model selection on the test split. Frozen features are extracted once: without
augmentation, training a linear head on them equals training it behind the frozen encoder.
After the uint8 step, inputs are standardised with the encoder's own statistics expressed in
[0, 1] units (ImageNet's for ImageNet and published SeCo weights).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from trainer.scaling import BandScaling
from trainer.weights_scaling import unit_scaling

__all__ = ["PAPER", "Uint8Images", "Uint8Pairs", "encoder_unit_stats", "train_head"]

#: task → settings of the official protocol
PAPER: dict[str, dict[str, Any]] = {
    "eurosat": {"size": 64, "dropout": 0.0, "view": None},
    "bigearthnet": {"size": 128, "dropout": 0.2, "view": "mean2std"},
    "oscd": {"size": 96, "view": "minmax"},
    "synthetic-landcover": {"size": 64, "dropout": 0.0, "view": None},
    "synthetic-season": {"size": 64, "dropout": 0.0, "view": None},
    "synthetic-change": {"size": 96, "view": "minmax"},
}
STATS_SAMPLE = 512


def _to_uint8(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(…, C, H, W) values → uint8 levels 0–255 (kept in uint16) between per-band ``low`` and
    ``high`` (shape (C, 1, 1)), clipped."""
    span = np.maximum(high - low, 1e-6)
    scaled = np.clip((x.astype(np.float64) - low) / span, 0.0, 1.0) * 255.0
    return np.rint(scaled).astype(np.uint16)


class Uint8Images:
    """An image dataset seen through BigEarthNet's official scaling: each band clipped to its
    mean ± 2σ (statistics of up to 512 training images drawn with ``default_rng(0)``) and
    quantised to 0–255. Everything else is delegated to the wrapped dataset."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds
        train = ds.indices("train")
        pick = np.sort(
            np.random.default_rng(0).choice(train, min(STATS_SAMPLE, train.size), replace=False)
        )
        sample = _read(ds, pick).astype(np.float64)
        mean = sample.mean(axis=(0, 2, 3))
        std = sample.std(axis=(0, 2, 3))
        self.low = (mean - 2 * std)[:, None, None]
        self.high = (mean + 2 * std)[:, None, None]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ds, name)

    def __len__(self) -> int:
        return len(self.ds)

    def images(self, idx: np.ndarray) -> np.ndarray:
        return _to_uint8(_read(self.ds, idx), self.low, self.high)


class Uint8Pairs:
    """A pair dataset seen through OSCD's official scaling: each band of each image min/max
    scaled to 0–255."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ds, name)

    def __len__(self) -> int:
        return len(self.ds)

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b, mask = self.ds.pair(i)
        return _minmax(a), _minmax(b), mask


def _minmax(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1).astype(np.float64)
    return _to_uint8(x, flat.min(1)[:, None, None], flat.max(1)[:, None, None])


def _read(ds: Any, idx: np.ndarray) -> np.ndarray:
    if hasattr(ds, "images"):
        return ds.images(idx)
    return np.stack([ds.image(int(i)) for i in idx])


def encoder_unit_stats(
    enc: Any, sample: np.ndarray | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The encoder's input mean/std in [0, 1] units: from its own scaling, its ImageNet
    statistics, or (random encoders) from ``sample`` ((n, C, H, W) uint8 levels)."""
    s: BandScaling | None = enc.scaling
    if s is not None:
        p2, p98 = np.asarray(s.p2), np.asarray(s.p98)
        span = np.maximum(p98 - p2, 1.0)
        mean = (np.asarray(s.mean) - p2) / span
        std = np.asarray(s.std) / span
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)
    if enc.unit_stats is not None:
        return enc.unit_stats
    if sample is None:
        raise ValueError("a random encoder needs sample images for its statistics")
    unit = sample.astype(np.float64) / 255.0
    mean = unit.mean(axis=(0, 2, 3))
    std = np.maximum(unit.std(axis=(0, 2, 3)), 1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def uint8_scaling(enc: Any, bands: tuple[str, ...], sample: np.ndarray) -> BandScaling:
    """Scaling of uint8 levels 0–255 to the encoder's standardised input."""
    mean, std = encoder_unit_stats(enc, sample)
    n = len(bands)
    return unit_scaling(bands, (0.0,) * n, (255.0,) * n, mean, std)


def train_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    n_out: int,
    multilabel: bool,
    epochs: int,
    dropout: float = 0.0,
    batch: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> np.ndarray:
    """Test logits ``(n_test, n_out)`` of a (dropout +) linear head trained with Adam for
    ``epochs`` on frozen features: cross-entropy, or multi-label soft margin."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    head = nn.Sequential(nn.Dropout(dropout), nn.Linear(x_train.shape[1], n_out))
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    loss_fn: nn.Module = nn.MultiLabelSoftMarginLoss() if multilabel else nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    yt = torch.from_numpy(y_train.astype(np.float32) if multilabel else y_train.astype(np.int64))
    head.train()
    for _ in range(epochs):
        order = rng.permutation(len(xt))
        for start in range(0, len(order), batch):
            sel = torch.from_numpy(order[start : start + batch])
            loss = loss_fn(head(xt[sel]), yt[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
    head.eval()
    with torch.no_grad():
        return head(torch.from_numpy(np.ascontiguousarray(x_test, dtype=np.float32))).numpy()
