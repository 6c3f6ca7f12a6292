"""Run one encoder on one task under ``--protocol paper`` (settings in :mod:`.paper`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from trainer.evaluate.encoders import pyramid
from trainer.evaluate.features import extract
from trainer.evaluate.metrics import BinaryCounts
from trainer.evaluate.paper import PAPER, Uint8Images, Uint8Pairs, train_head, uint8_scaling
from trainer.evaluate.tasks import encoder_scaling, read_images, task_labels
from trainer.evaluate.uncertainty import bootstrap, change_metrics, scored

__all__ = ["paper_results", "CROP", "BATCH"]

CROP = 96
BATCH = 16


def paper_results(
    enc: Any,
    ds: Any,
    task: str,
    kind: str,
    dev: torch.device,
    epochs: int,
    seed: int,
    rounds: int,
    multilabel: bool,
) -> dict[str, tuple[dict[str, float], dict[str, tuple[float, float]]]]:
    """``{protocol: (metrics, intervals)}`` of the official protocol of ``task``.

    Raises:
        ValueError: a task without a paper protocol, or ``epochs`` < 1.
    """
    if task not in PAPER:
        raise ValueError(f"--protocol paper: no official protocol for {task}")
    if epochs < 1:
        raise ValueError(f"--epochs {epochs}: need at least 1")
    cfg = PAPER[task]
    if kind == "change":
        view = Uint8Pairs(ds)
        train = ds.indices("train")
        sample = np.stack([view.pair(int(train[0]))[0]])
        scaling = uint8_scaling(enc, tuple(ds.bands), sample)
        crops = sum(
            max(1, (m.shape[0] // CROP) * (m.shape[1] // CROP))
            for m in (view.pair(int(i))[2] for i in train)
        )
        steps = epochs * math.ceil(crops / BATCH)
        per_pair: list[BinaryCounts] = []
        from trainer.evaluate.change import change_detection

        metrics = change_detection(
            pyramid(enc), view, scaling, dev, crop=CROP, steps=steps, batch=BATCH, seed=seed,
            paper=True, per_pair=per_pair,
        )  # fmt: skip
        metrics["threshold"] = 0.5
        return {
            "change": (metrics, bootstrap(change_metrics(per_pair), len(per_pair), rounds, seed))
        }
    if cfg["view"] == "mean2std":
        images = Uint8Images(ds)
        sample = images.images(ds.indices("train")[:64])
        scaling = uint8_scaling(enc, tuple(ds.bands), sample)
        read: Callable[[np.ndarray], np.ndarray] = images.images
    else:
        scaling = encoder_scaling(enc, ds, kind)
        read = read_images(ds)
    size = cfg["size"]
    feats, labels = {}, {}
    for s in ("train", "test"):
        idx = ds.indices(s)
        feats[s] = extract(enc.model, read, idx, scaling, size, dev, desc=f"{enc.name} {s}")
        labels[s] = task_labels(ds, idx)
    n_out = len(ds.classes)
    logits = train_head(
        feats["train"], labels["train"], feats["test"], n_out, multilabel, epochs,
        dropout=cfg["dropout"], seed=seed,
    )  # fmt: skip
    name = "linear-multilabel" if multilabel else "linear"
    return {name: scored(labels["test"], logits, multilabel, n_out, rounds, seed)}
