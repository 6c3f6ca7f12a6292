"""The pre-training loop: data → device views → SeCo step → logs and checkpoints, resumable.

One step: uint16 batch to the device (pinned, non-blocking) → per-band scaling to [0, 1] →
views with per-step seeded augmentations → standardisation → loss under bf16 autocast (CUDA)
→ fused SGD step → keys enqueued. The learning rate is a function of the step; the data of a
step is a function of the step; so a run resumed from a checkpoint continues exactly.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from shared.bands import resolve_bands
from shared.store import open_store
from trainer.augment import AugmentConfig, DeviceAugment
from trainer.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    restore_rng,
    run_identity,
    save_checkpoint,
)
from trainer.config import PretrainConfig
from trainer.data import StepPlan, batch_loader, valid_samples
from trainer.distributed import Dist, ShuffledKeys, setup
from trainer.methods import ContrastiveModel
from trainer.prefetch import DevicePrefetcher
from trainer.scaling import BandScaling
from trainer.step import autocast_for, train_step
from trainer.views import make_views

__all__ = ["RunResult", "pretrain", "learning_rate", "TrainError"]


class TrainError(RuntimeError):
    """The run cannot start or continue; the message says why."""


@dataclass
class RunResult:
    out: Path
    first_step: int
    steps: int
    last_loss: float
    seconds: float
    locations_per_s: float
    skipped: int
    model: ContrastiveModel | None = None


def learning_rate(cfg: PretrainConfig, step: int, total: int) -> float:
    """SeCo's schedule: ×0.1 at 60 % and 80 % of the steps, or a cosine decay to 0."""
    base = cfg.base_lr
    if cfg.schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * step / total))
    return base * 0.1 ** sum(step >= int(f * total) for f in (0.6, 0.8))


def _step_generator(device: torch.device, seed: int, step: int, rank: int) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + step) * 4099 + rank)
    return g


def build(cfg: PretrainConfig, d: Dist) -> tuple[ContrastiveModel, BandScaling, StepPlan, int]:
    """The model, band scaling, step plan and total number of steps of a run."""
    store = open_store(cfg.store)
    try:
        bands = resolve_bands(cfg.bands, store.spec.bands)
    except ValueError as e:
        raise TrainError(str(e)) from e
    if "stats" not in store.attrs:
        raise TrainError(f"{cfg.store} has no band statistics: finish its collection first")
    scaling = BandScaling.from_store(store, bands)
    samples, store_seasons = valid_samples(cfg.store)
    try:
        plan = StepPlan(
            samples,
            store_seasons,
            cfg.seasons,
            cfg.batch,
            cfg.seed,
            cfg.with_replacement,
            d.rank,
            d.world,
        )
    except ValueError as e:
        raise TrainError(str(e)) from e
    total = cfg.steps or max(1, math.ceil(cfg.epochs * plan.steps_per_epoch))
    torch.manual_seed(cfg.seed)  # same initial weights in every process and every run
    model = ContrastiveModel(
        cfg.arch,
        len(bands),
        cfg.objective,
        cfg.dim,
        cfg.queue,
        cfg.encoder_momentum,
        cfg.temperature,
    )
    return model, scaling, plan, total


class RunLog:
    """TensorBoard scalars and a CSV of every logged step (written by the main process)."""

    FIELDS = (
        "step",
        "epoch",
        "loss",
        "loss0",
        "loss1",
        "loss2",
        "lr",
        "locations_per_s",
        "skipped",
    )

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / "tensorboard"))
        path = out / "log.csv"
        new = not path.exists()
        self.file = path.open("a", newline="")
        self.csv = csv.DictWriter(self.file, fieldnames=self.FIELDS)
        if new:
            self.csv.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.csv.writerow({k: row.get(k, "") for k in self.FIELDS})
        self.file.flush()
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)):
                self.writer.add_scalar(f"pretrain/{k}", v, row["step"])

    def close(self) -> None:
        if self.enabled:
            self.writer.close()
            self.file.close()


def pretrain(cfg: PretrainConfig, log: Any = print) -> RunResult:
    """Train (or resume training) into ``cfg.out``; returns what was done."""
    d = setup(cfg.device)
    out = Path(cfg.out)
    model, scaling, plan, total = build(cfg, d)
    cuda = d.device.type == "cuda"
    model.to(d.device)
    if cfg.channels_last and cuda:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.encoder.parameters(),
        lr=cfg.base_lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        **({"fused": True} if cuda else {"foreach": True}),
    )
    first = _resume(cfg, out, model, optimizer)
    if first >= total:
        log(f"{out}: already trained for {total} steps")
        return RunResult(out, first, 0, float("nan"), 0.0, 0.0, 0, model)
    encode: Any = model.encoder
    encode_keys: Any = model.momentum_encoder
    if d.active:
        encode = torch.nn.parallel.DistributedDataParallel(
            model.encoder, device_ids=[d.local_rank] if cuda else None
        )
    if cfg.compile:
        encode, encode_keys = torch.compile(encode), torch.compile(encode_keys)
    shuffle = ShuffledKeys(encode_keys, cfg.seed) if d.active else None
    encode_keys = shuffle or encode_keys
    augment = DeviceAugment(AugmentConfig(size=cfg.size), compile=cfg.compile)
    loader = batch_loader(cfg.store, cfg.bands, plan, first, total, cfg.workers, pin=cuda)
    run_log = RunLog(out, d.main)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        log(
            f"{cfg.objective} on {cfg.store}: {cfg.arch}, {len(scaling.bands)} band(s), "
            f"batch {cfg.batch}, steps {first}..{total} ({plan.steps_per_epoch} per epoch), "
            f"{d.world} process(es) on {d.device}"
        )
    bar = tqdm(total=total, initial=first, unit="step", disable=not (cfg.progress and d.main))
    start = time.perf_counter()
    seen = skipped = 0
    last_loss = float("nan")
    autocast = autocast_for(d.device, cfg.bf16)
    for batch in DevicePrefetcher(loader, d.device):
        step = int(batch["step"])
        pixels = batch["pixels"]
        skipped += int(batch["skipped"])
        lr = learning_rate(cfg, step, total)
        if shuffle is not None:
            shuffle.at_step(step)
        views = make_views(
            scaling.to_unit(pixels),
            cfg.objective,
            augment,
            _step_generator(d.device, cfg.seed, step, d.rank),
        )
        views = {
            k: _prepare(scaling.standardize(v), cfg.channels_last and cuda)
            for k, v in views.items()
        }
        loss, parts = train_step(model, views, optimizer, lr, encode, encode_keys, autocast)
        seen += pixels.shape[0] * d.world
        done = step + 1
        bar.update(1)
        if done % cfg.log_every == 0 or done == total:
            last_loss = float(loss)
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{last_loss:.3f}", loc_s=f"{rate:.1f}", refresh=False)
            run_log.write(
                {
                    "step": done,
                    "epoch": done / plan.steps_per_epoch,
                    "loss": last_loss,
                    "lr": lr,
                    "locations_per_s": rate,
                    "skipped": skipped,
                    **{k: float(v) for k, v in parts.items()},
                }
            )
        if d.main and (done % cfg.checkpoint_every == 0 or done == total):
            save_checkpoint(out / CHECKPOINT, _state(cfg, model, optimizer, done, scaling))
    bar.close()
    run_log.close()
    seconds = time.perf_counter() - start
    return RunResult(
        out, first, total - first, last_loss, seconds, seen / max(seconds, 1e-9), skipped, model
    )


def _prepare(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _state(
    cfg: PretrainConfig,
    model: ContrastiveModel,
    optimizer: torch.optim.Optimizer,
    step: int,
    scaling: BandScaling,
) -> dict[str, Any]:
    return {
        "format": 1,
        "step": step,
        "config": cfg.to_dict(),
        "scaling": scaling.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
    }


def _resume(
    cfg: PretrainConfig, out: Path, model: ContrastiveModel, optimizer: torch.optim.Optimizer
) -> int:
    path = out / CHECKPOINT
    if not path.exists():
        return 0
    state = load_checkpoint(path)
    stored, wanted = run_identity(state["config"]), run_identity(cfg.to_dict())
    if stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise TrainError(
            f"{out} holds a run with other settings ({', '.join(diff)}): use the same settings "
            "to resume, or another --out"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng(state["rng"])
    return int(state["step"])
