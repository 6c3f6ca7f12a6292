"""One optimisation step, shared by the training loop and the step-ceiling benchmark, and the
choice of its autocast (bf16 on CUDA by default; on the CPU only when asked)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

from trainer.distributed import gather
from trainer.methods import ContrastiveModel

__all__ = ["autocast_for", "bf16_enabled", "train_step"]


def bf16_enabled(device_type: str, bf16: bool | None) -> bool:
    """Whether the step runs under bf16 autocast: ``bf16`` None means on CUDA only (the
    default: the fast path there, a slowdown on most CPUs), True on every device (the CPU too,
    which is how CI exercises autocast without a GPU), False never."""
    if bf16 is None:
        return device_type == "cuda"
    return bool(bf16)


def autocast_for(device: torch.device, bf16: bool | None) -> torch.autocast:
    """The autocast context of a step on ``device`` (disabled when :func:`bf16_enabled` says
    no). Losses are computed in float32 inside it (see ``trainer.losses``)."""
    enabled = bf16_enabled(device.type, bf16)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


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
