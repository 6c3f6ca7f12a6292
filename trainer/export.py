"""Export a pre-trained encoder as a timm model folder: ``model.safetensors`` + ``config.json``.

```python
import timm
model = timm.create_model("local-dir:runs/seco/export", pretrained=True)  # pooled features
```

``config.json`` is timm's Hugging Face format (``architecture``, ``num_features``,
``model_args`` with ``in_chans`` and ``num_classes=0``, ``pretrained_cfg`` with
``input_size`` (C, H, W) and ``mean``/``std``), so the folder loads as it is, and so would a
Hub repository holding the same two files. ``pretrained_cfg.first_conv`` is left empty: no
timm version then tries to adapt the first convolution, so a multispectral export loads
exactly (timm ≤ 1.0.28 would otherwise replace a 13-band ``conv1`` with a random one).

The band scaling rides beside it: ``bands`` (channel order) and ``scaling`` (per-band p2/p98
in DN, mean/std). Inputs are prepared as in pre-training: DN → ``(x - p2) / (p98 - p2)``
clamped to [0, 1] → ``(x - mean) / std`` with ``pretrained_cfg``'s mean/std (which are in
that stretched scale); ``trainer.scaling.BandScaling.from_dict(config["scaling"])`` does both.
Files are written 0644, each through a temporary file and a rename.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import timm
import torch.nn as nn
from safetensors.torch import save_file

from shared.errors import OutsideFileError
from shared.outside import check_int, check_mapping, check_output_folder, read_json, shown
from trainer.checkpoint import CheckpointError, check_finite, load_backbone
from trainer.scaling import BandScaling

__all__ = [
    "export_encoder",
    "write_export",
    "load_encoder",
    "check_export_folder",
    "encoder_from_checkpoint",
    "WEIGHTS",
    "CONFIG",
]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
_MODE = 0o644
#: fields of timm's pretrained_cfg kept from the architecture's default (present in every
#: timm version with ``local-dir:`` support, 1.0.16 on)
_KEPT = ("fixed_input_size", "classifier")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _publish(tmp: Path, final: Path) -> None:
    """Make ``tmp`` world-readable (0644), flush it to disk and rename it to ``final``."""
    os.chmod(tmp, _MODE)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def timm_config(
    model: nn.Module, arch: str, scaling: BandScaling, size: int, extra: dict[str, Any]
) -> dict[str, Any]:
    """timm's Hugging Face ``config.json`` for a backbone trained on ``size``-px crops of
    ``scaling.bands``, with ``extra`` (our own keys) beside timm's."""
    default = dict(getattr(model, "pretrained_cfg", None) or {})
    chans = len(scaling.bands)
    fixed = bool(default.get("fixed_input_size", False))
    side = tuple(default.get("input_size", (3, size, size))[1:]) if fixed else (size, size)
    mean, std = scaling.unit_mean_std()
    pretrained_cfg: dict[str, Any] = {
        **{k: default[k] for k in _KEPT if k in default},
        "tag": "seco",
        "custom_load": False,
        "input_size": [chans, *side],
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "mean": list(mean),
        "std": list(std),
        "num_classes": 0,
        "first_conv": None,
        "description": (
            "SeCo-pipeline encoder; mean/std apply after the per-band stretch "
            "(x - p2) / (p98 - p2) clamped to [0, 1] (see 'scaling')"
        ),
    }
    return {
        "architecture": arch,
        "num_classes": 0,
        "num_features": int(getattr(model, "num_features", 0)),
        "model_args": {"in_chans": chans, "num_classes": 0},
        "pretrained_cfg": pretrained_cfg,
        **extra,
    }


def export_encoder(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the query encoder's backbone of ``checkpoint`` into the folder ``out``.

    Raises:
        FileNotFoundError: no checkpoint there.
        CheckpointError: the checkpoint is damaged, not ours, non-finite or does not fit its
            architecture (see :func:`trainer.checkpoint.load_backbone`); nothing is written.
    """
    model, state = load_backbone(checkpoint)
    cfg = state["config"]
    scaling = BandScaling.from_dict(state["scaling"])
    extra = {
        "objective": cfg["objective"],
        "steps": int(state["step"]),
        "store": cfg["store"],
    }
    return write_export(out, model, cfg["arch"], scaling, int(cfg["size"]), extra)


def write_export(
    out: str | Path,
    model: nn.Module,
    arch: str,
    scaling: BandScaling,
    size: int,
    extra: dict[str, Any],
) -> Path:
    """Write ``model``'s weights and timm's ``config.json`` (with ``extra`` and the band
    scaling beside timm's keys) into the folder ``out``, each file 0644 via a rename."""
    folder = check_export_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(weights, tmp, metadata={"format": "pt", "architecture": arch})
    _publish(tmp, folder / WEIGHTS)
    ours = {
        "in_chans": len(scaling.bands),
        "bands": list(scaling.bands),
        "scaling": scaling.to_dict(),
        **extra,
        "weights_sha256": _sha256(folder / WEIGHTS),
        "load": f'timm.create_model("local-dir:{folder}", pretrained=True)',
    }
    meta = timm_config(model, arch, scaling, size, ours)
    tmp = folder / (CONFIG + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    _publish(tmp, folder / CONFIG)
    return folder


def check_export_folder(out: str | Path) -> Path:
    """``out`` if an export may be written there: a new or empty folder, or one holding only an
    earlier export of this trainer (re-exporting replaces it). A store, a file, a folder with
    other files or with a ``config.json`` not written here is refused, left byte-identical."""
    folder = check_output_folder(out, {WEIGHTS, CONFIG, WEIGHTS + ".tmp", CONFIG + ".tmp"})
    if (folder / CONFIG).is_file():
        try:
            meta = read_json(folder / CONFIG, what="config.json")
        except OutsideFileError as e:
            raise OutsideFileError(
                f"--out {folder}", f"holds a config.json not written here ({e.problem})"
            ) from e
        if "weights_sha256" not in meta or "scaling" not in meta:
            raise OutsideFileError(
                f"--out {folder}",
                "holds a config.json not written by an export: choose another folder",
            )
    return folder


def _check_config(meta: dict[str, Any], where: str) -> None:
    """The keys :func:`load_encoder` uses, by type, before any model is built."""
    check_mapping(
        where,
        "config.json",
        meta,
        required={"architecture": str, "scaling": dict},
        optional={
            "in_chans": int,
            "pretrained_cfg": dict,
            "weights_sha256": str,
            "model_args": dict,
            "num_classes": int,
        },
    )
    if "in_chans" in meta:
        check_int(where, "in_chans", meta["in_chans"], 1, 64)
    if not timm.is_model(meta["architecture"]):
        raise OutsideFileError(
            where, f"architecture {shown(meta['architecture'])} is not a timm model"
        )


def _check_safetensors(path: Path) -> None:
    """The safetensors header (8-byte length, then JSON) is sound before timm reads it."""
    import struct

    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise OutsideFileError(str(path), f"a safetensors file of {size} bytes is truncated")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or 8 + n > size:
            raise OutsideFileError(
                str(path), "not a safetensors file (its header length does not fit the file)"
            )
        try:
            header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError) as e:
            raise OutsideFileError(str(path), "not a safetensors file (unreadable header)") from e
    if not isinstance(header, dict):
        raise OutsideFileError(str(path), "not a safetensors file (header is not an object)")


def load_encoder(folder: str | Path) -> tuple[nn.Module, BandScaling, dict[str, Any]]:
    """``(timm model in eval mode, its band scaling, its config)`` from an export folder.

    Loads through ``timm.create_model("local-dir:…")``; exports written before that format
    (no ``pretrained_cfg``) through the file overlay they documented.

    Raises:
        FileNotFoundError: no ``config.json`` or weights in ``folder``.
        CheckpointError: the weights do not match the recorded SHA-256, cannot be read or
            hold non-finite values.
    """
    root = Path(folder)
    if not (root / CONFIG).is_file() or not (root / WEIGHTS).is_file():
        raise FileNotFoundError(f"{root} is not an export folder ({CONFIG} + {WEIGHTS})")
    meta = read_json(root / CONFIG, what="config.json")
    if "scaling" not in meta or "architecture" not in meta:
        raise CheckpointError(f"{root / CONFIG} is not the config of an export of this trainer")
    _check_config(meta, str(root / CONFIG))
    scaling = BandScaling.from_dict(meta["scaling"], str(root / CONFIG))
    recorded = meta.get("weights_sha256")
    if recorded is not None and _sha256(root / WEIGHTS) != recorded:
        raise CheckpointError(
            f"{root / WEIGHTS} is damaged: its SHA-256 does not match config.json"
        )
    _check_safetensors(root / WEIGHTS)
    try:
        if "pretrained_cfg" in meta:
            model = timm.create_model(f"local-dir:{root}", pretrained=True)
        else:
            model = timm.create_model(
                meta["architecture"],
                pretrained=True,
                in_chans=meta["in_chans"],
                num_classes=0,
                pretrained_cfg_overlay=dict(file=str(root / WEIGHTS)),
            )
    except (RuntimeError, ValueError, KeyError, OSError, TypeError, AssertionError) as e:
        raise CheckpointError(
            f"{root}: the weights do not load ({type(e).__name__}: {str(e).splitlines()[0][:140]})"
        ) from e
    check_finite(model.state_dict(), root / WEIGHTS)
    return model.eval(), scaling, meta


def encoder_from_checkpoint(
    checkpoint: str | Path,
) -> tuple[nn.Module, BandScaling, dict[str, Any]]:
    """The query encoder's backbone straight from a training checkpoint (eval mode), checked
    as :func:`trainer.checkpoint.load_backbone` checks it."""
    model, state = load_backbone(checkpoint)
    return model, BandScaling.from_dict(state["scaling"]), state["config"]
