"""One optimisation step, shared by the training loop and the step-ceiling benchmark."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

from trainer.distributed import gather
from trainer.methods import ContrastiveModel

__all__ = ["train_step"]


def train_step(
    model: ContrastiveModel,
    views: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    lr: float,
    encode: Any,
    encode_keys: Any,
    autocast: AbstractContextManager[Any],
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Momentum update, loss, backward, SGD step at ``lr``, enqueue; returns the detached loss
    and its parts (tensors on the device: reading them synchronises, so log sparingly)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast:
        loss, parts, keys = model.loss(views, encode, gather, encode_keys)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    model.enqueue(keys)
    return loss.detach(), parts
