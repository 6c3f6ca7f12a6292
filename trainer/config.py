"""Pre-training configuration: paper defaults, a TOML/JSON file, command-line overrides.

Defaults follow SeCo (official code): SGD lr 0.03 × batch/256, momentum 0.9, weight decay
1e-4, batch 256, 200 epochs, lr × 0.1 at 60 % and 80 % of training (cosine as option),
queue 16,384, momentum encoder m = 0.999, temperature 0.07, 128-d projections, 224-px crops.
One departure: the 3 seasons of a location are distinct by default (the official code draws
them with replacement; ``with_replacement=True`` restores that).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["PretrainConfig", "OBJECTIVES", "load_config"]

#: objective → (seasons read per location, projection heads)
OBJECTIVES: dict[str, tuple[int, int]] = {"seco": (3, 3), "moco": (1, 1), "moco_tp": (2, 1)}


@dataclass(frozen=True)
class PretrainConfig:
    """Everything a pre-training run depends on (``out`` and ``workers`` aside, which do not
    change the result)."""

    store: str = "datasets/demo.zarr"
    out: str = "runs/pretrain"
    arch: str = "resnet50"
    bands: str = "rgb"
    objective: str = "seco"
    epochs: float = 200.0
    steps: int | None = None  # overrides epochs when set
    batch: int = 256  # global, across all processes
    size: int = 224
    lr: float | None = None  # None: 0.03 × batch / 256
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "step"  # "step" (×0.1 at 60 % and 80 %) or "cosine"
    queue: int = 16384
    dim: int = 128
    encoder_momentum: float = 0.999
    temperature: float = 0.07
    with_replacement: bool = False
    seed: int = 0
    workers: int = 4
    checkpoint_every: int = 1000
    log_every: int = 10
    compile: bool = False
    channels_last: bool = True
    bf16: bool | None = None  # bf16 autocast: None on CUDA only, True also on the CPU, False off
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}"
            )
        if self.schedule not in ("step", "cosine"):
            raise ValueError(f"schedule must be 'step' or 'cosine', got {self.schedule!r}")
        for name in ("batch", "size", "queue", "dim", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {self.steps}")
        if self.steps is None and not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if not 0.0 <= self.encoder_momentum < 1.0:
            raise ValueError(f"encoder_momentum must be in [0, 1), got {self.encoder_momentum}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.workers < 0:
            raise ValueError(f"workers must be ≥ 0, got {self.workers}")

    @property
    def seasons(self) -> int:
        return OBJECTIVES[self.objective][0]

    @property
    def heads(self) -> int:
        return OBJECTIVES[self.objective][1]

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else 0.03 * self.batch / 256

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> PretrainConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        return PretrainConfig(**{**self.to_dict(), **changes})


def load_config(path: str | Path) -> dict[str, Any]:
    """Settings from a ``.toml`` or ``.json`` file (a flat table of PretrainConfig fields)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} does not exist")
    text = p.read_text()
    try:
        data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"config file {p} is not valid {p.suffix[1:].upper()}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"config file {p} must hold a table of settings")
    return data
