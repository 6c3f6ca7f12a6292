"""Export a pre-trained encoder as ``model.safetensors`` + ``config.json``, loadable by timm.

```python
import timm
model = timm.create_model("resnet50", pretrained=True, in_chans=3, num_classes=0,
                          pretrained_cfg_overlay=dict(file="runs/seco/export/model.safetensors"))
```

``config.json`` carries what a downstream user needs besides the weights: the architecture,
the bands in channel order and the band scaling (DN → [0, 1] → standardised) to apply to
inputs, plus where the weights came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import timm
import torch.nn as nn
from safetensors.torch import save_file

from trainer.checkpoint import load_checkpoint
from trainer.scaling import BandScaling

__all__ = ["export_encoder", "load_encoder", "encoder_from_checkpoint", "WEIGHTS", "CONFIG"]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
_PREFIX = "encoder.backbone."


def export_encoder(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the query encoder's backbone of ``checkpoint`` into ``out``; returns ``out``."""
    state = load_checkpoint(checkpoint)
    cfg = state["config"]
    weights = {
        k[len(_PREFIX) :]: v.contiguous()
        for k, v in state["model"].items()
        if k.startswith(_PREFIX)
    }
    if not weights:
        raise ValueError(f"{checkpoint} holds no encoder weights")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, folder / WEIGHTS, metadata={"format": "pt", "architecture": cfg["arch"]})
    scaling = state["scaling"]
    meta = {
        "architecture": cfg["arch"],
        "in_chans": len(scaling["bands"]),
        "num_classes": 0,
        "bands": scaling["bands"],
        "scaling": scaling,
        "objective": cfg["objective"],
        "steps": int(state["step"]),
        "store": cfg["store"],
        "load": (
            f"timm.create_model({cfg['arch']!r}, pretrained=True, in_chans={len(scaling['bands'])}, "
            f"num_classes=0, pretrained_cfg_overlay=dict(file='<this folder>/{WEIGHTS}'))"
        ),
    }
    (folder / CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def load_encoder(folder: str | Path) -> tuple[nn.Module, BandScaling, dict[str, Any]]:
    """``(timm model in eval mode, its band scaling, its config)`` from an export folder."""
    root = Path(folder)
    meta = json.loads((root / CONFIG).read_text())
    model = timm.create_model(
        meta["architecture"],
        pretrained=True,
        in_chans=meta["in_chans"],
        num_classes=0,
        pretrained_cfg_overlay=dict(file=str(root / WEIGHTS)),
    )
    return model.eval(), BandScaling.from_dict(meta["scaling"]), meta


def encoder_from_checkpoint(
    checkpoint: str | Path,
) -> tuple[nn.Module, BandScaling, dict[str, Any]]:
    """The query encoder's backbone straight from a training checkpoint (eval mode)."""
    state = load_checkpoint(checkpoint)
    cfg = state["config"]
    scaling = BandScaling.from_dict(state["scaling"])
    model = timm.create_model(
        cfg["arch"], pretrained=False, num_classes=0, in_chans=len(scaling.bands)
    )
    weights = {k[len(_PREFIX) :]: v for k, v in state["model"].items() if k.startswith(_PREFIX)}
    model.load_state_dict(weights)
    return model.eval(), scaling, cfg
