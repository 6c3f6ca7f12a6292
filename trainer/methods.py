"""SeCo and its baselines as one module: a timm encoder, projection heads, a momentum copy,
one queue per head (model state, saved with every checkpoint).

SeCo (Mañas et al., 2021), per location with seasons t0, t1, t2 (distinct by default):
``q = crop(x_t0)``, ``k0 = crop(aug(x_t1))``, ``k1 = crop(x_t2)``, ``k2 = crop(aug(x_t0))``.
Subspace 0 (invariant to season and augmentation): positive ``h0(k0)``, negatives its queue.
Subspace 1 (invariant to season, variant to augmentation): positive ``h1(k1)``, negatives
its queue plus ``h1(k0)`` and ``h1(k2)`` of the whole batch. Subspace 2 (invariant to
augmentation, variant to season): positive ``h2(k2)``, negatives its queue plus ``h2(k0)`` and
``h2(k1)`` of the whole batch. Loss = sum of the three InfoNCE losses; queue i receives
``h_i(k_i)``. Baselines: ``moco`` (MoCo-v2, two augmentations of one image) and ``moco_tp``
(two seasons of one location, each augmented, as the positive pair).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from lightly.models.modules import MoCoProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum

from trainer.encoders import create_encoder, feature_dim
from trainer.losses import contrastive_logits, info_nce, top1_accuracy
from trainer.objectives import objective_named

__all__ = ["QueryEncoder", "ContrastiveModel", "Gather"]

Gather = Callable[[torch.Tensor], torch.Tensor]
Encode = Callable[[torch.Tensor], list[torch.Tensor]]
Views = dict[str, torch.Tensor]
#: (loss, its parts for the log, keys to enqueue)
LossOut = tuple[torch.Tensor, dict[str, torch.Tensor], list[torch.Tensor]]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class QueryEncoder(nn.Module):
    """Backbone + heads: images (B, C, H, W) → one unit vector (B, dim) per head."""

    def __init__(self, arch: str, in_chans: int, heads: int, dim: int) -> None:
        super().__init__()
        self.backbone = create_encoder(arch, in_chans)
        width = feature_dim(self.backbone)
        self.heads = nn.ModuleList(MoCoProjectionHead(width, width, dim) for _ in range(heads))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.backbone(x)
        return [F.normalize(head(features), dim=1) for head in self.heads]


class ContrastiveModel(nn.Module):
    """The pre-training model of one objective (``seco``, ``moco`` or ``moco_tp``)."""

    queue: torch.Tensor  # (heads, queue size, dim) unit vectors
    queue_ptr: torch.Tensor  # (heads,) next write position
    momentum_encoder: QueryEncoder

    def __init__(
        self,
        arch: str,
        in_chans: int,
        objective: str = "seco",
        dim: int = 128,
        queue_size: int = 16384,
        momentum: float = 0.999,
        temperature: float = 0.07,
    ) -> None:
        super().__init__()
        self.method = objective_named(objective)
        self.objective = objective
        self.m = momentum
        self.temperature = temperature
        heads = self.method.heads
        self.encoder = QueryEncoder(arch, in_chans, heads, dim)
        self.momentum_encoder = copy.deepcopy(self.encoder)
        deactivate_requires_grad(self.momentum_encoder)
        self.register_buffer("queue", F.normalize(torch.randn(heads, queue_size, dim), dim=-1))
        self.register_buffer("queue_ptr", torch.zeros(heads, dtype=torch.long))

    @torch.no_grad()
    def update_momentum(self) -> None:
        """Exponential moving average of the query encoder's parameters."""
        update_momentum(self.encoder, self.momentum_encoder, self.m)

    @torch.no_grad()
    def keys(self, x: torch.Tensor, encode_keys: Encode | None = None) -> list[torch.Tensor]:
        """Momentum-encoder embeddings, one unit vector per head."""
        # `is None`, not `or`: a compiled module (torch.compile) raises TypeError on truth tests
        return (self.momentum_encoder if encode_keys is None else encode_keys)(x)

    @torch.no_grad()
    def enqueue(self, keys: list[torch.Tensor]) -> None:
        """Write ``keys[i]`` (N, dim) into queue i after its last write, wrapping around."""
        size = self.queue.shape[1]
        for i, k in enumerate(keys):
            k = k.to(self.queue.dtype)
            n = k.shape[0]
            at = int(self.queue_ptr[i])
            idx = (torch.arange(n, device=k.device) + at) % size
            self.queue[i, idx] = k[-size:] if n > size else k
            self.queue_ptr[i] = (at + n) % size

    def loss(
        self,
        views: dict[str, torch.Tensor],
        encode: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
        gather: Gather = _identity,
        encode_keys: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[torch.Tensor]]:
        """``(loss, parts, keys to enqueue)`` for one batch of views.

        ``encode`` is the query path (the DDP-wrapped or compiled encoder when used);
        ``encode_keys`` the momentum path (compiled or not); ``gather`` concatenates a tensor
        over all processes (keys are gathered before they serve as batch negatives and before
        they are enqueued, so every process holds the same queues).
        """
        encode = self.encoder if encode is None else encode
        self.update_momentum()
        return _LOSSES[self.method.loss](self, views, encode, encode_keys, gather)

    def _pair(self, views: Views, encode: Encode, keys: Encode | None, gather: Gather) -> LossOut:
        q = encode(views["q"])[0]
        k = self.keys(views["k"], keys)[0]  # keys: the momentum path (None: the module itself)
        logits = contrastive_logits(q, k, self.queue[0])
        loss = info_nce(logits, self.temperature)
        return loss, {"loss0": loss.detach(), "acc0": top1_accuracy(logits)}, [gather(k)]

    def _subspaces(
        self, views: Views, encode: Encode, encode_keys: Encode | None, gather: Gather
    ) -> LossOut:
        q = encode(views["q"])
        # e[j][i] = h_i(k_j) from the momentum encoder; g: the same over the whole batch
        e = [self.keys(views[f"k{j}"], encode_keys) for j in range(3)]
        g = [[gather(e[j][i]) for i in range(3)] for j in range(3)]
        logits = [
            contrastive_logits(q[0], e[0][0], self.queue[0]),
            contrastive_logits(q[1], e[1][1], self.queue[1], [g[0][1], g[2][1]]),
            contrastive_logits(q[2], e[2][2], self.queue[2], [g[0][2], g[1][2]]),
        ]
        losses = [info_nce(lg, self.temperature) for lg in logits]
        parts = {f"loss{i}": v.detach() for i, v in enumerate(losses)}
        # per-subspace top-1: how often the positive beats every negative of its subspace
        parts.update({f"acc{i}": top1_accuracy(lg.detach()) for i, lg in enumerate(logits)})
        return sum(losses[1:], losses[0]), parts, [g[0][0], g[1][1], g[2][2]]


#: an objective's ``loss`` → the ContrastiveModel method computing it
_LOSSES = {"subspaces": ContrastiveModel._subspaces, "pair": ContrastiveModel._pair}
