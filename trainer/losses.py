"""InfoNCE with a queue and optional extra negatives, as MoCo and SeCo use it.

Logits are computed in float32 whatever the autocast dtype: 16-bit dot products of unit
vectors divided by a 0.07 temperature lose too much.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["contrastive_logits", "info_nce", "top1_accuracy"]


def contrastive_logits(
    query: torch.Tensor,
    positive: torch.Tensor,
    queue: torch.Tensor,
    extra_negatives: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """``(B, 1 + K + ΣN_j)`` similarities: column 0 the positive, then the queue, then extras.

    query, positive: (B, D) unit vectors; queue: (K, D) unit vectors; each extra negative
    set: (N_j, D) unit vectors compared with every query (e.g. the keys of the whole batch).
    """
    q = query.float()
    pos = (q * positive.float()).sum(dim=1, keepdim=True)
    negs = [q @ queue.float().T] + [q @ e.float().T for e in extra_negatives]
    return torch.cat([pos, *negs], dim=1)


def info_nce(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean cross-entropy with the positive in column 0."""
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits / temperature, target)


def top1_accuracy(logits: torch.Tensor) -> torch.Tensor:
    """Fraction of queries whose positive (column 0) scores highest: a scalar tensor."""
    return (logits.argmax(dim=1) == 0).float().mean()
