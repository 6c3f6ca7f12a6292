"""95 % bootstrap intervals: over the test items of one run, and over pre-training seeds.

Test set: the items (images, patches, change pairs) are resampled with replacement
``rounds`` times (default 1,000, ``numpy.random.default_rng(seed)``) and every metric is
recomputed from the resampled predictions exactly as on the whole split (one confusion matrix,
summed pixel counts, average precision over the resampled rows); the interval is the 2.5th to
97.5th percentile (percentile bootstrap). It says how much the number would move on another
test set of the same size from the same distribution, not how much it would move with another
training run.

Seeds: where several runs of one configuration differ only in their pre-training seed, their
values are resampled the same way (with few runs the interval is coarse: say how many).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from trainer.evaluate.metrics import (
    BinaryCounts,
    accuracy,
    confusion_matrix,
    macro_f1,
    multilabel_scores,
)

__all__ = [
    "ROUNDS",
    "bootstrap",
    "classification_metrics",
    "multilabel_metrics",
    "change_metrics",
    "seed_interval",
    "scored",
]

ROUNDS = 1000
LOW, HIGH = 2.5, 97.5
Stat = Callable[[np.ndarray], dict[str, float]]


def bootstrap(
    stat: Stat, n: int, rounds: int = ROUNDS, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """``metric → (low, high)``, the 95 % percentile interval of ``stat(idx)`` over ``rounds``
    resamples ``idx`` of ``range(n)``; empty when ``n`` or ``rounds`` is 0."""
    if n == 0 or rounds <= 0:
        return {}
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {}
    for _ in range(rounds):
        for k, v in stat(rng.integers(0, n, n)).items():
            values.setdefault(k, []).append(v)
    out = {}
    for k, draws in values.items():
        arr = np.asarray(draws, dtype=np.float64)
        arr = arr[np.isfinite(arr)]
        if arr.size:
            out[k] = (float(np.percentile(arr, LOW)), float(np.percentile(arr, HIGH)))
    return out


def classification_metrics(y: np.ndarray, pred: np.ndarray, n_classes: int) -> Stat:
    """Accuracy and macro-F1 of the resampled items; ``y``, ``pred`` (n,) class indices."""

    def stat(idx: np.ndarray) -> dict[str, float]:
        cm = confusion_matrix(y[idx], pred[idx], n_classes)
        return {"accuracy": accuracy(cm), "macro_f1": macro_f1(cm)}

    return stat


def multilabel_metrics(y: np.ndarray, logits: np.ndarray) -> Stat:
    """Multi-label scores (:func:`~trainer.evaluate.metrics.multilabel_scores`) of the resampled
    rows; ``y`` (n, K) bool, ``logits`` (n, K)."""

    def stat(idx: np.ndarray) -> dict[str, float]:
        scores = multilabel_scores(y[idx], logits[idx], from_logits=True)
        scores.pop("map_classes")
        return scores

    return stat


def change_metrics(per_item: Sequence[BinaryCounts]) -> Stat:
    """Precision, recall, F1 and IoU of the pixel counts summed over the resampled pairs."""
    counts = np.array([[c.tp, c.fp, c.fn, c.tn] for c in per_item], dtype=np.int64).reshape(-1, 4)

    def stat(idx: np.ndarray) -> dict[str, float]:
        tp, fp, fn, tn = (int(v) for v in counts[idx].sum(0))
        c = BinaryCounts(tp, fp, fn, tn)
        return {"precision": c.precision, "recall": c.recall, "f1": c.f1, "iou": c.iou}

    return stat


def seed_interval(
    values: Sequence[float], rounds: int = ROUNDS, seed: int = 0
) -> tuple[float, float, float]:
    """``(mean, low, high)`` of one metric over runs that differ in their pre-training seed."""
    arr = np.asarray(values, dtype=np.float64)
    ci = bootstrap(lambda idx: {"m": float(arr[idx].mean())}, arr.size, rounds, seed)
    low, high = ci.get("m", (float("nan"), float("nan")))
    return float(arr.mean()), low, high


def scored(
    y: np.ndarray, logits: np.ndarray, multilabel: bool, n_out: int, rounds: int, seed: int
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Metrics of test predictions over the whole split, and their bootstrap intervals.
    ``logits`` (n, K) scores, or (n,) predicted classes."""
    if multilabel:
        stat = multilabel_metrics(y.astype(bool), logits)
    else:
        pred = logits if logits.ndim == 1 else logits.argmax(1)
        stat = classification_metrics(y, pred, n_out)
    n = len(y)
    return stat(np.arange(n)), bootstrap(stat, n, rounds, seed)
