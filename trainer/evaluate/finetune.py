"""Optional protocol: fine-tune the whole encoder with a linear head (few epochs, SGD).

Slower than the frozen protocols, so not a default; on a GPU it shows how much of a
representation's advantage survives end-to-end training.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trainer.evaluate.features import prepare
from trainer.evaluate.metrics import accuracy, confusion_matrix, macro_f1

__all__ = ["finetune"]


def finetune(
    enc: Any,
    ds: Any,
    scaling: Any,
    size: int,
    device: torch.device,
    epochs: int = 5,
    batch: int = 32,
    lr: float = 0.01,
    seed: int = 0,
) -> dict[str, float]:
    """Test accuracy and macro-F1 after ``epochs`` of SGD on the training split."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    read = (
        ds.images
        if hasattr(ds, "images")
        else (lambda idx: np.stack([ds.image(int(i)) for i in idx]))
    )
    labels = (
        ds.labels
        if hasattr(ds, "labels")
        else (lambda idx: np.array([ds.label(int(i)) for i in idx]))
    )
    model = copy.deepcopy(enc.model).to(device).train()
    head = torch.nn.Linear(int(model.num_features), len(ds.classes)).to(device)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    train = ds.indices("train")
    steps = max(1, epochs * math.ceil(train.size / batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        idx = rng.choice(train, size=min(batch, train.size), replace=False)
        x = prepare(read(idx), scaling, size, device)
        if rng.random() < 0.5:
            x = x.flip(-1)
        y = torch.from_numpy(np.asarray(labels(idx), dtype=np.int64)).to(device)
        loss = F.cross_entropy(head(model(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    test = ds.indices("test")
    preds = []
    with torch.no_grad():
        for start in range(0, test.size, 64):
            chunk = test[start : start + 64]
            preds.append(
                head(model(prepare(read(chunk), scaling, size, device))).argmax(1).cpu().numpy()
            )
    cm = confusion_matrix(np.asarray(labels(test)), np.concatenate(preds), len(ds.classes))
    return {"accuracy": accuracy(cm), "macro_f1": macro_f1(cm)}
