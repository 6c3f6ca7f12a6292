"""Linear probe and k-nearest neighbours on frozen features.

Linear probe: (multinomial or multi-label) logistic regression on standardised features,
full-batch L-BFGS; the weight decay is chosen on the validation split from a small grid, the
model trained on the training split is scored on the test split. kNN: cosine similarity, the
k nearest training features vote with weights ``exp(sim / T)`` (k = 20, T = 0.07, the usual
self-supervised protocol). Every metric is computed over the whole split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from trainer.evaluate.metrics import accuracy, confusion_matrix, macro_f1, multilabel_scores

__all__ = ["Split", "linear_probe", "linear_probe_logits", "knn", "knn_predict"]

WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)


@dataclass
class Split:
    """Features and labels of one split: x (n, D) float32; y (n,) int or (n, K) bool."""

    x: np.ndarray
    y: np.ndarray


def _fit(
    x: torch.Tensor, y: torch.Tensor, n_out: int, multilabel: bool, wd: float, iters: int = 100
) -> torch.nn.Linear:
    torch.manual_seed(0)
    head = torch.nn.Linear(x.shape[1], n_out)
    opt = torch.optim.LBFGS(
        head.parameters(), lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = head(x)
        loss = (
            F.binary_cross_entropy_with_logits(logits, y.float())
            if multilabel
            else F.cross_entropy(logits, y)
        ) + wd * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head


def _score(
    head: torch.nn.Linear, x: torch.Tensor, y: np.ndarray, n_out: int, multilabel: bool
) -> dict[str, float]:
    with torch.no_grad():
        logits = head(x)
    if multilabel:
        return multilabel_scores(y.astype(bool), logits.numpy(), from_logits=True)
    cm = confusion_matrix(y, logits.argmax(1).numpy(), n_out)
    return {"accuracy": accuracy(cm), "macro_f1": macro_f1(cm)}


def linear_probe(
    train: Split, val: Split, test: Split, n_out: int, multilabel: bool = False
) -> dict[str, float]:
    """Test metrics of the best weight decay on validation (``accuracy``/``macro_f1``, or the
    multi-label scores), plus the chosen ``weight_decay``."""
    logits, wd = linear_probe_logits(train, val, test, n_out, multilabel)
    if multilabel:
        result = multilabel_scores(test.y.astype(bool), logits, from_logits=True)
    else:
        cm = confusion_matrix(test.y, logits.argmax(1), n_out)
        result = {"accuracy": accuracy(cm), "macro_f1": macro_f1(cm)}
    result["weight_decay"] = wd
    return result


def linear_probe_logits(
    train: Split, val: Split, test: Split, n_out: int, multilabel: bool = False
) -> tuple[np.ndarray, float]:
    """``(test logits (n_test, n_out) float32, chosen weight decay)`` of the probe trained on
    ``train`` with the weight decay that scores best on ``val``."""
    mean, std = train.x.mean(0), train.x.std(0) + 1e-6

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((a - mean) / std).astype(np.float32))

    xtr, xva, xte = t(train.x), t(val.x), t(test.x)
    ytr = torch.from_numpy(train.y if multilabel else train.y.astype(np.int64))
    key = "map" if multilabel else "accuracy"
    fitted = [(wd, _fit(xtr, ytr, n_out, multilabel, wd)) for wd in WEIGHT_DECAYS]
    scores = [
        _score(head, xva, val.y, n_out, multilabel)[key] if len(val.y) else 0.0
        for _, head in fitted
    ]
    wd, head = fitted[int(np.argmax(scores))]  # first best on ties: the least regularised
    with torch.no_grad():
        return head(xte).numpy(), wd


def knn(
    train: Split, test: Split, n_classes: int, k: int = 20, temperature: float = 0.07
) -> dict[str, float]:
    """Accuracy and macro-F1 of weighted cosine kNN (single-label tasks)."""
    cm = confusion_matrix(test.y, knn_predict(train, test, n_classes, k, temperature), n_classes)
    return {"accuracy": accuracy(cm), "macro_f1": macro_f1(cm)}


def knn_predict(
    train: Split, test: Split, n_classes: int, k: int = 20, temperature: float = 0.07
) -> np.ndarray:
    """(n_test,) int64 classes voted by the k nearest training features (cosine)."""
    a = F.normalize(torch.from_numpy(train.x.astype(np.float32)), dim=1)
    b = F.normalize(torch.from_numpy(test.x.astype(np.float32)), dim=1)
    k = min(k, a.shape[0])
    preds = []
    labels = torch.from_numpy(train.y.astype(np.int64))
    for start in range(0, b.shape[0], 1024):
        sim = b[start : start + 1024] @ a.T
        top, idx = sim.topk(k, dim=1)
        votes = torch.zeros(top.shape[0], n_classes)
        votes.scatter_add_(1, labels[idx], (top / temperature).exp())
        preds.append(votes.argmax(1))
    return torch.cat(preds).numpy() if preds else np.zeros(0, np.int64)
