"""Evaluation metrics, computed over a whole split, never averaged per batch.

Pure numpy. Averages of per-batch scores are biased (batches differ in size and in class
mix), so classification metrics come from one confusion matrix of the whole split and
segmentation metrics from :class:`BinaryCounts` accumulated over it.

Conventions: a ratio whose denominator is 0 is 0.0 (no warning, no NaN), except where a class
is left out of an average as said.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "confusion_matrix",
    "accuracy",
    "per_class_f1",
    "macro_f1",
    "balanced_accuracy",
    "average_precision",
    "per_class_ap",
    "multilabel_scores",
    "BinaryCounts",
]


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.shape(num), dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _check_cm(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square (K, K), got shape {cm.shape}")
    return cm


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts; row = true class, column = predicted class.

    ``y_true`` and ``y_pred`` are integer class indices of one shape (flattened), in ``[0, K)``.
    """
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values, y_pred {p.size}")
    for name, v in (("y_true", t), ("y_pred", p)):
        if v.size and not np.issubdtype(v.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class indices, got {v.dtype}")
        if v.size and (v.min() < 0 or v.max() >= n_classes):
            bad = v[(v < 0) | (v >= n_classes)][0]
            raise ValueError(f"{name} holds class {bad}, outside [0, {n_classes})")
    flat = t.astype(np.int64) * n_classes + p.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def accuracy(cm: np.ndarray) -> float:
    """Overall accuracy: trace / total (0.0 for an empty matrix)."""
    cm = _check_cm(cm)
    return _ratio(np.trace(cm), cm.sum())


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """``(K,)`` float64 F1 of each class, ``2 TP / (2 TP + FP + FN)``; 0.0 when a class is
    absent from both truth and prediction (denominator 0)."""
    cm = _check_cm(cm).astype(np.float64)
    tp = np.diag(cm)
    return _safe_div(2 * tp, cm.sum(0) + cm.sum(1))


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean of :func:`per_class_f1` over the classes present in the truth or in the
    prediction; a class absent from both is left out (its F1 is undefined, not 0). 0.0 if no
    class is present."""
    cm = _check_cm(cm)
    present = (cm.sum(0) + cm.sum(1)) > 0
    return float(per_class_f1(cm)[present].mean()) if present.any() else 0.0


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes present in the truth (row sum > 0); classes without true
    samples are left out. 0.0 for an empty matrix."""
    cm = _check_cm(cm).astype(np.float64)
    support = cm.sum(1)
    present = support > 0
    return float((np.diag(cm)[present] / support[present]).mean()) if present.any() else 0.0


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of one class: the mean, over its positives, of the precision at the
    rank of each positive when items are sorted by decreasing score.

    Ties are taken as one step (precision counted after the whole tied group), so the value does
    not depend on input order; without ties this is the plain step-wise sum
    ``Σ_k P(k) rel(k) / #positives``. NaN if there is no positive.
    """
    t = np.asarray(y_true, dtype=bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(t.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    tp = np.cumsum(t)
    # last position of each group of equal scores
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp_end = tp[ends]
    precision = tp_end / (ends + 1)
    new_pos = np.diff(np.r_[0, tp_end])  # positives that appear in each group
    return float((new_pos * precision).sum() / n_pos)


def per_class_ap(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``(K,)`` AP of each column of ``(N, K)`` truth and scores; NaN for a class with no positive."""
    t, s = _check_multilabel(y_true, scores)
    return np.array([average_precision(t[:, k], s[:, k]) for k in range(t.shape[1])])


def _check_multilabel(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if t.ndim != 2 or t.shape != s.shape:
        raise ValueError(f"y_true and scores must both be (N, K), got {t.shape} and {s.shape}")
    if t.dtype != bool and not np.isin(t, (0, 1)).all():
        raise ValueError("y_true must be boolean (or 0/1)")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or infinite values")
    return t.astype(bool), s


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


def multilabel_scores(
    y_true: np.ndarray, scores: np.ndarray, *, from_logits: bool = True, threshold: float = 0.5
) -> dict[str, float]:
    """Multi-label scores over a whole split.

    ``y_true`` (N, K) bool; ``scores`` (N, K) float: logits (``from_logits=True``, the default:
    a sigmoid is applied first) or probabilities (``from_logits=False``). A label is predicted
    where the probability is ``>= threshold``. Returns

    * ``micro_precision``, ``micro_recall``, ``micro_f1``: from TP, FP, FN summed over all
      N × K decisions (0.0 for a zero denominator);
    * ``map``: mean of :func:`average_precision` over the classes with at least one positive
      (NaN if none has), i.e. macro mAP; thresholds and the sigmoid do not affect it;
    * ``micro_map``: :func:`average_precision` of all N × K decisions ranked together (the
      metric SeCo reports on BigEarthNet, scikit-learn's ``average='micro'``);
    * ``map_classes``: how many classes entered that mean.
    """
    t, s = _check_multilabel(y_true, scores)
    prob = _sigmoid(s) if from_logits else s
    pred = prob >= threshold
    tp = int((pred & t).sum())
    fp = int((pred & ~t).sum())
    fn = int((~pred & t).sum())
    ap = per_class_ap(t, s)
    has_pos = ~np.isnan(ap)
    return {
        "micro_precision": _ratio(tp, tp + fp),
        "micro_recall": _ratio(tp, tp + fn),
        "micro_f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "map": float(ap[has_pos].mean()) if has_pos.any() else float("nan"),
        "micro_map": average_precision(t.ravel(), s.ravel()) if t.any() else float("nan"),
        "map_classes": float(has_pos.sum()),
    }


@dataclass
class BinaryCounts:
    """Pixel counts of a binary segmentation (e.g. change vs no change), summed over a split.

    ``update`` adds a batch; scores are ratios of the running totals, so accumulating batch by
    batch equals one pass over the whole split. Counts are exact integers (int64 range and
    beyond). Every score is 0.0 when its denominator is 0 (e.g. ``precision`` with no pixel
    predicted positive, all scores of an empty count).
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def update(
        self, pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None
    ) -> BinaryCounts:
        """Add the pixels of one batch; ``pred``, ``truth`` and optional ``valid`` are boolean
        (or 0/1 integer) arrays of one shape; pixels where ``valid`` is False are not counted.
        Returns ``self``."""
        p = _as_mask(pred, "pred")
        t = _as_mask(truth, "truth")
        if p.shape != t.shape:
            raise ValueError(f"pred {p.shape} and truth {t.shape} differ in shape")
        v = None if valid is None else _as_mask(valid, "valid")
        if v is not None and v.shape != p.shape:
            raise ValueError(f"valid {v.shape} and pred {p.shape} differ in shape")
        if v is not None:
            p, t = p[v], t[v]
        tp = int(np.count_nonzero(p & t))
        fp = int(np.count_nonzero(p)) - tp
        fn = int(np.count_nonzero(t)) - tp
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.tn += int(p.size) - tp - fp - fn
        return self

    def __add__(self, other: BinaryCounts) -> BinaryCounts:
        return BinaryCounts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        """TP / (TP + FP)."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN)."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN): the harmonic mean of precision and recall."""
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def iou(self) -> float:
        """TP / (TP + FP + FN), the positive class's intersection over union."""
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def accuracy(self) -> float:
        """(TP + TN) / total."""
        return _ratio(self.tp + self.tn, self.total)

    def as_dict(self) -> dict[str, float]:
        """Counts and scores, for logging."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "iou": self.iou,
            "accuracy": self.accuracy,
        }


def _as_mask(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.integer) and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    raise ValueError(f"{name} must be a boolean mask (threshold scores first), got {arr.dtype}")
