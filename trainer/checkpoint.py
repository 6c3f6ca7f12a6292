"""Checkpoints that resume exactly, load safely and are never trusted blindly.

A checkpoint holds the model (query and momentum encoders, heads, queues and their pointers),
the optimizer, the step (which fixes the learning rate and the data position), the run's
configuration, the band scaling and the RNG states — plain tensors, numbers and strings only,
so it loads with ``torch.load(weights_only=True)``.

Writing: into a temporary file beside the target, flushed to disk (``fsync``), then renamed
over ``checkpoint.pt``; the checkpoint it replaces is kept as ``checkpoint.prev.pt`` until the
next one is complete, so a crash at any moment leaves at least one whole checkpoint.

Reading (resume, export and evaluation all go through :func:`load_checkpoint`): the zip
container's CRC-32 of every member is checked, the file must be one of ours (``format``), and
the SHA-256 of its contents stored at save time must match. :func:`load_backbone` adds the
checks that matter before weights are used: every tensor finite, and the weights fit the
architecture the checkpoint names. Every refusal is a :class:`CheckpointError` with a
one-line message naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

__all__ = [
    "CHECKPOINT",
    "PREVIOUS",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "load_backbone",
    "check_finite",
    "RUNTIME_FIELDS",
    "run_identity",
    "BACKBONE_PREFIX",
]

CHECKPOINT = "checkpoint.pt"
#: the checkpoint before the latest one, kept until the next one is complete
PREVIOUS = "checkpoint.prev.pt"
#: format 1: no digest (read, CRC-checked only); format 2: SHA-256 of the contents stored
FORMAT = 2
#: the query encoder's backbone inside the model's state dict
BACKBONE_PREFIX = "encoder.backbone."
_REQUIRED = ("step", "config", "scaling", "model", "optimizer")
#: settings that do not change what is computed, so they may differ on resume
RUNTIME_FIELDS = frozenset(
    {"out", "workers", "progress", "checkpoint_every", "log_every", "device", "compile"}
)


class CheckpointError(ValueError):
    """A checkpoint that must not be used: damaged, not ours, non-finite or mismatched."""


def run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with the run that wrote the checkpoint (a local
    store path compared as its real path: relative and absolute spellings are one store)."""
    from trainer.config import normalise_store_path

    identity = {k: v for k, v in config.items() if k not in RUNTIME_FIELDS}
    if isinstance(identity.get("store"), str):
        identity["store"] = normalise_store_path(identity["store"])
    return identity


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _digest(value: Any, h: Any = None) -> Any:
    """SHA-256 over a nested structure of dicts, lists, tensors and plain values, in a fixed
    order (dict keys sorted by their text), covering every tensor's dtype, shape and bytes."""
    top = h is None
    h = hashlib.sha256() if top else h
    if isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value, key=str):
            h.update(repr(k).encode())
            _digest(value[k], h)
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            _digest(v, h)
        h.update(b"]")
    elif isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # hashed in place, no copy
    else:
        h.update(f"{type(value).__name__}:{value!r}".encode())
    return h.hexdigest() if top else h


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus RNG states, format and digest) to ``path``, keeping the checkpoint
    it replaces as ``checkpoint.prev.pt`` beside it; returns ``path``.

    Order: temporary file written and fsynced → the current checkpoint hard-linked (or copied)
    to the previous-checkpoint name → the temporary renamed over ``path`` → directory fsynced.
    ``path`` names a complete checkpoint at every moment.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    full = {**state, "format": FORMAT, "rng": rng_state()}
    full["digest"] = _digest({k: v for k, v in full.items() if k != "digest"})
    tmp = p.with_name(p.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(full, f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if p.exists():
        prev = p.with_name(PREVIOUS if p.name == CHECKPOINT else p.name + ".prev")
        staged = prev.with_name(prev.name + ".tmp")
        staged.unlink(missing_ok=True)
        try:
            os.link(p, staged)
        except OSError:  # file systems without hard links
            import shutil

            shutil.copyfile(p, staged)
        os.replace(staged, prev)
    os.replace(tmp, p)
    _fsync_dir(p.parent)
    return p


def check_container(p: Path) -> None:
    """Refuse a torch zip container that is truncated or whose members fail their CRC-32.

    Raises:
        CheckpointError: the damage, in one line.
    """
    try:
        with zipfile.ZipFile(p) as z:
            bad = z.testzip()
    except zipfile.BadZipFile as e:
        raise CheckpointError(
            f"{p} is damaged or not a checkpoint (not a complete zip container: {e})"
        ) from e
    except (OSError, EOFError, ValueError) as e:  # truncated or garbled member headers
        raise CheckpointError(f"{p} is damaged ({type(e).__name__}: {str(e)[:100]})") from e
    if bad is not None:
        raise CheckpointError(f"{p} is damaged: CRC mismatch in member {bad}")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint of this trainer onto the CPU after checking its integrity.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CheckpointError: damaged (CRC or digest mismatch, truncated), unreadable, holding
            anything but tensors and plain values, or not written by this trainer.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no checkpoint at {p}")
    check_container(p)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, foreign objects, damage the CRCs did not see
        raise CheckpointError(
            f"{p} is not a readable checkpoint ({type(e).__name__}: {str(e)[:120]})"
        ) from e
    if not isinstance(state, dict) or "format" not in state:
        kind = "a state dict of tensors" if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{p} is not a checkpoint of this trainer ({kind} without a 'format' entry)"
        )
    if state["format"] not in (1, FORMAT):
        raise CheckpointError(f"{p} has checkpoint format {state['format']!r}, not 1 or {FORMAT}")
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{p} is not a complete checkpoint (missing {', '.join(missing)})")
    if "digest" in state:
        stored = state.pop("digest")
        if _digest(state) != stored:
            raise CheckpointError(f"{p} is damaged: its contents do not match the stored SHA-256")
    elif state["format"] != 1:
        raise CheckpointError(f"{p} has no digest although format {state['format']} stores one")
    return state


def check_finite(tensors: dict[str, torch.Tensor], source: str | Path) -> None:
    """Raise :class:`CheckpointError` naming the first floating tensor holding NaN or ±inf."""
    bad = [
        k
        for k, t in tensors.items()
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(t.isfinite().all())
    ]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise CheckpointError(f"{source} holds non-finite weights (NaN or inf in {bad[0]}{more})")


def load_backbone(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """``(the query encoder's backbone as a timm model in eval mode, the checkpoint state)``.

    The one path by which export and evaluation read a training checkpoint: integrity
    (:func:`load_checkpoint`), finite weights, and weights that fit the named architecture.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CheckpointError: any reason the weights must not be used; the message says which.
    """
    from trainer.encoders import create_encoder

    state = load_checkpoint(path)
    cfg, scaling = state["config"], state["scaling"]
    if not isinstance(cfg, dict) or not isinstance(scaling, dict) or "arch" not in cfg:
        raise CheckpointError(f"{path} is not a checkpoint of this trainer (no run configuration)")
    from shared.outside import check_mapping
    from trainer.scaling import BandScaling

    check_mapping(
        str(path),
        "config",
        cfg,
        required={"arch": str},
        optional={"size": int, "objective": str, "store": (str, type(None))},
    )
    BandScaling.from_dict(scaling, str(path))
    if not isinstance(state["model"], dict):
        raise CheckpointError(f"{path}: its model entry is not a state dict")
    weights = {
        k[len(BACKBONE_PREFIX) :]: v
        for k, v in state["model"].items()
        if k.startswith(BACKBONE_PREFIX)
    }
    if not weights:
        raise CheckpointError(f"{path} holds no encoder weights")
    check_finite(weights, path)
    try:
        model = create_encoder(cfg["arch"], len(scaling["bands"]))
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: its weights do not fit {cfg['arch']} with {len(scaling['bands'])} band(s) "
            f"({_first_mismatch(e)})"
        ) from e
    return model.eval(), state


def _first_mismatch(e: RuntimeError) -> str:
    """The first concrete line of a ``load_state_dict`` error (missing key or size mismatch)."""
    lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()]
    return (lines[0] if lines else str(e))[:160]
