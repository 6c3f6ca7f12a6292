"""Checkpoints that resume exactly and load safely (``torch.load(..., weights_only=True)``).

A checkpoint holds the model (query and momentum encoders, heads, queues and their pointers),
the optimizer, the step (which fixes the learning rate and the data position), the run's
configuration, the band scaling and the RNG states — plain tensors, numbers and strings only.
It is written to a temporary file and renamed, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT", "save_checkpoint", "load_checkpoint", "RUNTIME_FIELDS", "run_identity"]

CHECKPOINT = "checkpoint.pt"
#: settings that do not change what is computed, so they may differ on resume
RUNTIME_FIELDS = frozenset(
    {"out", "workers", "progress", "checkpoint_every", "log_every", "device", "compile"}
)


def run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with the run that wrote the checkpoint."""
    return {k: v for k, v in config.items() if k not in RUNTIME_FIELDS}


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically to ``path``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    torch.save({**state, "rng": rng_state()}, tmp)
    os.replace(tmp, p)
    return p


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU, refusing anything but tensors and plain values."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated files, foreign objects
        raise ValueError(
            f"{p} is not a readable checkpoint ({type(e).__name__}: {str(e)[:120]})"
        ) from e
