"""Pre-training configuration: paper defaults, a TOML/JSON file, command-line overrides.

Defaults follow SeCo (official code): SGD lr 0.03 × batch/256, momentum 0.9, weight decay
1e-4, batch 256, 200 epochs, lr × 0.1 at 60 % and 80 % of training (cosine as option),
queue 16,384, momentum encoder m = 0.999, temperature 0.07, 128-d projections, 224-px crops.
One departure: the 3 seasons of a location are distinct by default (the official code draws
them with replacement; ``with_replacement=True`` restores that).
"""

from __future__ import annotations

import json
import re
import tomllib
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.validate import (
    ConfigValueError,
    Range,
    check_choice,
    check_device_name,
    check_fields,
    check_path,
    check_value,
)
from trainer.objectives import OBJECTIVES, Objective

if TYPE_CHECKING:
    from trainer.inputs import TrainInputs

__all__ = [
    "PretrainConfig",
    "OBJECTIVES",
    "PRETRAIN_LIMITS",
    "SETTING_HELP",
    "load_config",
    "check_device",
    "check_arch",
    "check_against_store",
    "check_evaluation",
    "check_protocols",
    "normalise_store_path",
]


#: allowed ranges of PretrainConfig's numbers (types come from the annotations)
PRETRAIN_LIMITS: dict[str, Range] = {
    "epochs": Range(0, 1_000_000, low_open=True),
    "steps": Range(1, 10**12),
    "batch": Range(1, 1_048_576),
    "size": Range(1, 8192),
    "lr": Range(0, 1000, low_open=True),
    "momentum": Range(0, 1, high_open=True),
    "weight_decay": Range(0, 10),
    "queue": Range(1, 2**26),
    "dim": Range(1, 65_536),
    "encoder_momentum": Range(0, 1, high_open=True),
    "temperature": Range(0, 1000, low_open=True),
    "seed": Range(0, 2**63 - 1),
    "workers": Range(0, 1024),
    "checkpoint_every": Range(1, 10**12),
    "log_every": Range(1, 10**12),
}


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
        check_fields(self, PRETRAIN_LIMITS)
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("schedule", self.schedule, ("step", "cosine"))
        object.__setattr__(self, "device", check_device_name("device", self.device))
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
    def method(self) -> Objective:
        """The objective's record (seasons drawn, heads, views, loss)."""
        return OBJECTIVES[self.objective]

    @property
    def seasons(self) -> int:
        return self.method.seasons

    @property
    def heads(self) -> int:
        return self.method.heads

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


#: one line per setting of :class:`PretrainConfig`: what it means, its unit and its range (the
#: command line's ``--help`` shows these with each default)
SETTING_HELP: dict[str, str] = {
    "store": "the Zarr store to pre-train on (a finished collection with band statistics)",
    "out": "run folder: checkpoint.pt, run.toml, log.csv, tensorboard/; rerun to resume",
    "arch": "timm architecture of the encoder (any timm model taking in_chans)",
    "bands": "input bands: rgb, all, or names in channel order such as B8,B4,B3",
    "objective": " or ".join(f"{o.name} ({o.help})" for o in OBJECTIVES.values()),
    "epochs": "passes over the store's valid samples (ignored when --steps is given)",
    "steps": "optimisation steps in total (overrides --epochs)",
    "batch": "locations per step, over all processes",
    "size": "side of the square crops fed to the encoder, pixels",
    "lr": "base learning rate of SGD; unset, 0.03 × batch / 256",
    "momentum": "SGD momentum",
    "weight_decay": "SGD weight decay (L2)",
    "schedule": "learning-rate schedule: step (×0.1 at 60 % and 80 % of the steps) or cosine",
    "queue": "negatives kept per queue (one queue per projection head)",
    "dim": "width of each projection head's output (the contrastive embedding)",
    "encoder_momentum": "m of the momentum (key) encoder's moving average, in [0, 1)",
    "temperature": "InfoNCE temperature T (> 0)",
    "with_replacement": "draw a location's seasons with replacement (the original SeCo code)",
    "seed": "seed of the weights, the data order, the seasons and the augmentations",
    "workers": "DataLoader worker processes (capped at the CPUs this process may use)",
    "checkpoint_every": "steps between checkpoints (and view images in TensorBoard)",
    "log_every": "steps between rows of log.csv and TensorBoard scalars",
    "compile": "torch.compile the encoders and the augmentations",
    "channels_last": "channels-last memory format on CUDA",
    "bf16": "bf16 autocast; unset: on CUDA only, --bf16 on the CPU too, --no-bf16 never",
    "device": "auto, cpu, cuda or cuda:N (torchrun: one GPU per process)",
    "progress": "show a progress bar",
}


def load_config(path: str | Path) -> dict[str, Any]:
    """Settings from a ``.toml`` or ``.json`` file (a flat table of PretrainConfig fields),
    each checked for its type by the same checks as :class:`PretrainConfig` runs.

    Raises:
        ConfigValueError: the file is missing, unreadable, not a table, names an unknown
            setting or holds a value of the wrong type (the message names the file).
    """
    p = check_path("--config", path, "file")
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        kind = "TOML" if p.suffix == ".toml" else "JSON"
        raise ConfigValueError("--config", f"{p} is not valid {kind}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigValueError("--config", f"{p} must hold a table of settings")
    hints = typing.get_type_hints(PretrainConfig)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigValueError("--config", f"{p}: unknown setting(s): {', '.join(unknown)}")
    return {
        key: check_value(f"{p.name}: {key}", value, hints[key], PRETRAIN_LIMITS.get(key))
        for key, value in data.items()
    }


def check_device(device: str) -> str:
    """``device`` if it names a device this machine has (``auto`` always does).

    Raises:
        ConfigValueError: unknown name, or no such device here (``cuda:99``, CUDA absent).
    """
    import torch

    name = check_device_name("device", device)
    kind, _, index = name.partition(":")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigValueError("device", f"{name}: this machine has no CUDA device (use cpu)")
        if int(index or 0) >= count:
            raise ConfigValueError(
                "device",
                f"{name}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}",
            )
    elif kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigValueError("device", "mps: this machine has no Apple GPU (use cpu)")
    elif kind == "xpu":
        xpu = getattr(torch, "xpu", None)
        count = xpu.device_count() if xpu is not None and xpu.is_available() else 0
        if int(index or 0) >= count:
            raise ConfigValueError("device", f"{name}: this machine has {count} XPU device(s)")
    return name


def check_arch(arch: str) -> str:
    """``arch`` if timm knows it.

    Raises:
        ConfigValueError: an unknown architecture, with close names.
    """
    import timm

    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch}*")[:8]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigValueError("arch", f"unknown timm architecture {arch!r}{hint}")
    return arch


def check_against_store(
    cfg: PretrainConfig,
    check_batch: bool = True,
    storage_options: dict[str, Any] | None = None,
) -> TrainInputs:
    """Cross-field checks of a run against its store and this machine, before anything is
    allocated: the device exists, the architecture is known, the bands are in the store, the
    crop ``size`` fits in the stored patch, ``batch`` is at most the number of usable samples
    (unless ``check_batch`` is false: benchmarks may cycle), ``out`` is a folder or new.
    Returns the run's inputs, resolved once (pass them on to :func:`trainer.loop.pretrain`).

    Raises:
        ConfigValueError: the first check that fails.
        NotAStoreError: ``cfg.store`` is not a store.
    """
    from trainer.inputs import open_inputs, selects_samples

    check_device(cfg.device)
    check_arch(cfg.arch)
    check_path("out", cfg.out, "dir-or-new")
    inputs = open_inputs(cfg.store, cfg.bands, storage_options, select=selects_samples())
    spec = inputs.store.spec
    if cfg.size > spec.size:
        raise ConfigValueError(
            "size", f"{cfg.size} px is larger than the store's {spec.size}-px patches"
        )
    usable = len(inputs.samples) if check_batch and inputs.samples is not None else cfg.batch
    if cfg.batch > usable:  # (rank 0 checks for every rank: it selects the samples)
        raise ConfigValueError(
            "batch", f"{cfg.batch} is larger than the store's {usable} usable sample(s)"
        )
    return inputs


#: protocols by task kind (``trainer.evaluate.run.TASKS`` gives each task's kind)
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "classification": ("linear", "knn", "finetune"),
    "change": ("change",),
}


def check_protocols(text: str | None, kind: str) -> tuple[str, ...] | None:
    """``"linear,knn"`` → ``("linear", "knn")`` for a task of ``kind``; None: the task's default.

    Raises:
        ConfigValueError: an unknown protocol, or none at all (``","``).
    """
    if text is None:
        return None
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    allowed = PROTOCOLS.get(kind, ())
    if not names:
        raise ConfigValueError("--protocols", f"no protocol in {text!r}: use {', '.join(allowed)}")
    for name in names:
        check_choice("--protocols", name, allowed)
    return names


def check_evaluation(
    data: str,
    encoders: list[str],
    size: int,
    device: str,
    change_steps: int,
    storage_options: dict[str, Any] | None = None,
) -> None:
    """Checks of an evaluation's settings before any data is read: the device exists, ``size``
    is in range and, for a store, at most its patch size, the encoders and data exist.

    Raises:
        ConfigValueError: the first check that fails.
    """
    check_device(device)
    check_value("--size", size, int, Range(1, 8192))
    check_value("--change-steps", change_steps, int, Range(1, 10**9))
    for spec in encoders:
        if spec == "random" or spec.startswith("random:"):
            check_arch(spec.partition(":")[2] or "resnet18")
        elif re.match(r"[a-z]+:", spec):  # another kind (imagenet:<arch>): its loader checks
            continue
        elif not Path(spec).exists():
            raise ConfigValueError(
                "--encoder", f"{spec} does not exist (no checkpoint, weights or export folder)"
            )
    from shared.store.location import is_url

    remote = is_url(data)  # a store on object storage
    if not remote and not Path(data).exists():
        raise ConfigValueError("--data", f"{data} does not exist")
    if remote or (Path(data) / "zarr.json").is_file():
        from shared.store.handle import open_store

        patch = open_store(data, "r", storage_options).spec.size
        if size > patch:
            raise ConfigValueError(
                "--size", f"{size} px is larger than the store's {patch}-px patches"
            )


def normalise_store_path(location: str) -> str:
    """A local store path as its real absolute path (URLs unchanged), so that ``x.zarr``,
    ``./x.zarr`` and ``/abs/x.zarr`` name one store when settings are compared."""
    import os

    if "://" in location:
        return location
    return os.path.realpath(os.path.expanduser(location))
