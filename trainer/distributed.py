"""Multi-process training with ``torchrun``: process group, ranks, gathering keys, shuffle-BN,
and the agreements that keep ranks from diverging (one run folder, one resume step, one loss).

On several nodes ``--out`` must be one folder every node sees (a shared file system: NFS,
Lustre, a mounted bucket): rank 0 writes the checkpoint and the logs there and every rank
resumes from it. :func:`check_shared_folder` refuses a folder that is not shared, and
:func:`agree_on_step` a resume where the ranks would start at different steps, on every rank
at once (no rank is left waiting in a collective).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

__all__ = [
    "Dist",
    "setup",
    "gather",
    "ShuffledKeys",
    "DivergenceError",
    "check_shared_folder",
    "agree_on_step",
    "global_mean",
    "SHARED_MARK",
]

#: the file rank 0 writes into the run folder with a fresh token every rank must read back
SHARED_MARK = ".shared-folder"


class DivergenceError(RuntimeError):
    """The ranks do not see the same run (folder or checkpoint); raised on every rank."""


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


def from_main(d: Dist) -> Callable[[object], object] | None:
    """A function returning rank 0's value of its argument on every rank (``None`` when this
    is the only process)."""
    if not d.active:
        return None

    def broadcast(value: object) -> object:
        box: list[object] = [value if d.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    return broadcast


def _all_gather_object(d: Dist, value: object) -> list[object]:
    if not d.active:
        return [value]
    parts: list[object] = [None] * d.world
    dist.all_gather_object(parts, value)
    return parts


def _ranks(flags: Sequence[bool]) -> str:
    bad = [str(r) for r, ok in enumerate(flags) if not ok]
    return ("rank " if len(bad) == 1 else "ranks ") + ", ".join(bad)


def _read_back(mark: Path, token: str, wait_s: float) -> bool:
    """Whether ``mark`` holds ``token``, looking again for up to ``wait_s`` seconds (a shared
    file system may show a new file on other nodes a moment late)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.listdir(mark.parent)  # refreshes a network file system's view of the folder
            if mark.read_text().strip() == token:
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def check_shared_folder(out: Path, d: Dist, wait_s: float = 5.0) -> None:
    """Refuse, on every rank, a run folder that is not the same folder on every node.

    Rank 0 writes a fresh random token into ``out/.shared-folder``; each rank must read that
    token back from its own ``out`` (within ``wait_s`` seconds). Single-process runs skip the
    check.

    Raises:
        DivergenceError: a rank saw another token, or none (one line naming the ranks).
    """
    if not d.active:
        return
    mark = out / SHARED_MARK
    token = secrets.token_hex(16)
    problem = ""
    if d.main:
        try:
            out.mkdir(parents=True, exist_ok=True)
            tmp = mark.with_name(mark.name + ".tmp")
            tmp.write_text(token)
            os.replace(tmp, mark)
        except OSError as e:
            problem = f"rank 0 cannot write {mark}: {e.strerror or e}"
    box: list[object] = [(token, problem)]
    dist.broadcast_object_list(box, src=0)
    token, problem = box[0]  # type: ignore[misc]
    if problem:
        raise DivergenceError(str(problem))
    flags = [bool(f) for f in _all_gather_object(d, _read_back(mark, token, wait_s))]
    if not all(flags):
        raise DivergenceError(
            f"--out {out} is not the same folder on every node ({_ranks(flags)} cannot read "
            "the file rank 0 just wrote there): put --out on storage every node shares"
        )


def agree_on_step(d: Dist, step: int, problem: str = "") -> int:
    """The step every rank resumes from: rank 0's, provided each rank found the same.

    ``step`` is the checkpoint step this rank loaded (0: no checkpoint), ``problem`` why it
    could not load one. Every rank returns the same step or raises the same error.

    Raises:
        DivergenceError: a rank reported a problem or another step (one line).
    """
    if not d.active:
        if problem:
            raise DivergenceError(problem)
        return step
    views: list[tuple[int, str]] = [
        (int(v[0]), str(v[1]))  # type: ignore[index]
        for v in _all_gather_object(d, (int(step), str(problem)))
    ]
    decided, first_problem = views[0]
    if first_problem:
        raise DivergenceError(str(first_problem))
    flags = [not p and s == decided for s, p in views]
    if not all(flags):
        r = flags.index(False)
        found = views[r][1] or (f"step {views[r][0]}" if views[r][0] else "no checkpoint")
        raise DivergenceError(
            f"rank 0 resumes at step {decided} but {_ranks(flags)} found {found}: every rank "
            "must see rank 0's checkpoint (a shared --out); nothing was trained"
        )
    return int(decided)


def global_mean(d: Dist, values: dict[str, float]) -> dict[str, float]:
    """``values`` averaged over every rank (each rank passes the same keys)."""
    if not d.active or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=d.device)
    if d.device.type != "cuda":
        t = t.cpu()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / d.world for k, v in zip(keys, t.tolist(), strict=True)}
