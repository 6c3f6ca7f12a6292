"""Multi-process training with ``torchrun``: process group, ranks, gathering keys, shuffle-BN."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Dist", "setup", "gather", "ShuffledKeys"]


@dataclass(frozen=True)
class Dist:
    """This process's place: ``rank`` of ``world``, its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: str = "auto") -> Dist:
    """Join the process group when launched by ``torchrun`` (NCCL on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local, dev)


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (no gradient) from every process, in rank order."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


class ShuffledKeys:
    """The momentum encoder run on a batch shuffled across processes (shuffle-BN).

    Each process encodes a random slice of the whole gathered key batch, so the BatchNorm
    statistics behind a key never come from that key's own process batch, which would let
    query and key share a batch signature (the shortcut MoCo's shuffle-BN removes). The
    outputs are gathered and put back in order: each process receives exactly its own keys.
    The permutation is the same on every process and a function of ``(seed, step, call)``,
    so a resumed run shuffles as the uninterrupted one did.
    """

    def __init__(self, encode: Callable[[torch.Tensor], list[torch.Tensor]], seed: int) -> None:
        self.encode = encode
        self.seed = seed
        self._generator = torch.Generator()
        self.at_step(0)

    def at_step(self, step: int) -> None:
        """Start the permutations of training step ``step``."""
        self._generator.manual_seed((self.seed * 1_000_003 + step) * 8191 + 1)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self.encode(x)
        n, rank = x.shape[0], dist.get_rank()
        everything = gather(x)
        order = torch.randperm(everything.shape[0], generator=self._generator).to(x.device)
        back = torch.argsort(order)
        outs = self.encode(everything[order[rank * n : (rank + 1) * n]])
        return [gather(o)[back[rank * n : (rank + 1) * n]] for o in outs]
