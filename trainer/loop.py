"""The pre-training loop: data → device views → SeCo step → logs and checkpoints, resumable.

One step: uint16 batch to the device (pinned, non-blocking) → per-band scaling to [0, 1] →
views with per-step seeded augmentations → standardisation → loss under bf16 autocast (CUDA)
→ fused SGD step → keys enqueued. The learning rate is a function of the step; the data of a
step is a function of the step; so a run resumed from a checkpoint continues exactly.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from trainer.augment import DeviceAugment
from trainer.augment_config import AugmentConfig
from trainer.checkpoint import (
    CHECKPOINT,
    PREVIOUS,
    CheckpointError,
    check_finite,
    load_checkpoint,
    restore_rng,
    run_identity,
    save_checkpoint,
)
from trainer.config import PretrainConfig
from trainer.data import PIXEL_KEYS, StepPlan, batch_loader
from trainer.distributed import (
    Dist,
    DivergenceError,
    ShuffledKeys,
    agree_on_step,
    check_shared_folder,
    from_main,
    global_mean,
    setup,
)
from trainer.grid import to_grid
from trainer.inputs import TrainInputs, open_inputs, selects_samples, share_samples
from trainer.methods import ContrastiveModel
from trainer.prefetch import DevicePrefetcher
from trainer.runlog import RunLog, write_run_toml
from trainer.scaling import BandScaling
from trainer.step import autocast_for, train_step
from trainer.views import make_views

__all__ = ["RunResult", "pretrain", "learning_rate", "TrainError", "available_cpus"]


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
    #: this process is rank 0 (the one that reports the run)
    main: bool = True


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


def _resolved(
    cfg: PretrainConfig, inputs: TrainInputs | None, storage_options: dict[str, Any] | None
) -> TrainInputs:
    """``inputs``, or the run's store inputs opened now (bad bands: :class:`TrainError`)."""
    if inputs is not None:
        return inputs
    try:
        return open_inputs(cfg.store, cfg.bands, storage_options, select=selects_samples())
    except ValueError as e:
        raise TrainError(str(e)) from e


def build(
    cfg: PretrainConfig, d: Dist, inputs: TrainInputs | None = None
) -> tuple[ContrastiveModel, BandScaling, StepPlan, int]:
    """The model, band scaling, step plan and total number of steps of a run (``inputs``: the
    run's store inputs when already resolved, else they are resolved here)."""
    inputs = _resolved(cfg, inputs, None)
    if d.active or inputs.samples is None:  # selected once per run: rank 0's, on every rank
        inputs = share_samples(inputs, from_main(d))
    assert inputs.samples is not None
    bands = inputs.bands
    if inputs.scaling is None:
        raise TrainError(f"{cfg.store} has no band statistics: finish its collection first")
    scaling = inputs.scaling
    try:
        plan = StepPlan(
            inputs.samples,
            inputs.seasons,
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


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's or taskset's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without affinity masks
        return max(1, os.cpu_count() or 1)


def pretrain(
    cfg: PretrainConfig,
    log: Any = print,
    storage_options: dict[str, Any] | None = None,
    inputs: TrainInputs | None = None,
) -> RunResult:
    """Train (or resume training) into ``cfg.out``; returns what was done.

    ``storage_options``: for a store on object storage (runtime only: never written to the
    run folder). ``inputs``: the store inputs :func:`trainer.config.check_against_store`
    resolved (else resolved here). Under ``torchrun`` every rank must see the same ``cfg.out``
    and resumes at the step rank 0 decides (see :mod:`trainer.distributed`).
    """
    d = setup(cfg.device)
    out = Path(cfg.out)
    try:
        check_shared_folder(out, d)
    except DivergenceError as e:
        raise TrainError(str(e)) from None
    inputs = _resolved(cfg, inputs, storage_options)
    model, scaling, plan, total = build(cfg, d, inputs)
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
    first = _agreed_resume(cfg, out, model, optimizer, d)
    if first >= total:
        if d.main:
            log(f"{out}: already trained for {total} steps")
        return RunResult(out, first, 0, float("nan"), 0.0, 0.0, 0, model, d.main)
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
    augment = DeviceAugment(AugmentConfig(size=cfg.size), compile=cfg.compile, roles=inputs.roles)
    workers = min(cfg.workers, available_cpus())
    loader = batch_loader(inputs.store, inputs.bands, plan, first, total, workers, pin=cuda)
    run_log = RunLog(out, d.main, first)
    if d.main:
        resolved = {"lr": cfg.base_lr, "steps": total}
        write_run_toml(cfg, out, resolved)
        run_log.describe(cfg, resolved, first)
        log(
            f"{cfg.objective} on {cfg.store}: {cfg.arch}, {len(scaling.bands)} band(s), "
            f"batch {cfg.batch}, steps {first}..{total} ({plan.steps_per_epoch} per epoch), "
            f"{d.world} process(es) on {d.device}"
        )
    bar = tqdm(total=total, initial=first, unit="step", disable=not (cfg.progress and d.main))
    start = time.perf_counter()
    seen = skipped = skipped_all = 0
    last_loss = float("nan")
    saved = first  # the step the checkpoint on disk holds
    # first step whose loss was not finite, kept on the device (-1: none): checking it costs
    # a synchronisation, so it is read only where it matters (logs, checkpoints, the end)
    nonfinite_at = torch.full((), -1, dtype=torch.long, device=d.device)
    autocast = autocast_for(d.device, cfg.bf16)
    for batch in DevicePrefetcher(loader, d.device, keys=PIXEL_KEYS):
        step = int(batch["step"])
        skipped += int(batch["skipped"])
        lr = learning_rate(cfg, step, total)
        if shuffle is not None:
            shuffle.at_step(step)
        # native 20/60 m bands reach the 10 m grid here, on the device, before the crop
        pixels = to_grid(batch, scaling.bands, scaling.group_to_unit)
        views = make_views(
            pixels,
            cfg.objective,
            augment,
            _step_generator(d.device, cfg.seed, step, d.rank),
        )
        if step == first or (step + 1) % cfg.checkpoint_every == 0:
            run_log.views(step + 1, views, scaling.bands)
        views = {
            k: _prepare(scaling.standardize(v), cfg.channels_last and cuda)
            for k, v in views.items()
        }
        loss, parts = train_step(model, views, optimizer, lr, encode, encode_keys, autocast)
        nonfinite_at = torch.where(
            (nonfinite_at < 0) & ~torch.isfinite(loss), step + 1, nonfinite_at
        )
        seen += pixels.shape[0] * d.world
        done = step + 1
        bar.update(1)
        logging = done % cfg.log_every == 0 or done == total
        checkpointing = done % cfg.checkpoint_every == 0 or done == total
        if logging or checkpointing:  # the same steps in every process
            _stop_if_nonfinite(nonfinite_at, d, out, saved)
        if logging:  # the loss over every rank's batch, not this rank's alone
            mean = global_mean(
                d,
                {"loss": float(loss), "skipped": float(skipped)}
                | {k: float(v) for k, v in parts.items()},
            )
            last_loss = mean.pop("loss")
            skipped_all = round(mean.pop("skipped") * d.world)
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{last_loss:.3f}", loc_s=f"{rate:.1f}", refresh=False)
            run_log.write(
                {
                    "step": done,
                    "epoch": done / plan.steps_per_epoch,
                    "loss": last_loss,
                    "lr": lr,
                    "locations_per_s": rate,
                    "skipped": skipped_all,
                    **mean,
                }
            )
        if checkpointing and d.main:
            try:
                check_finite(model.state_dict(), f"the model at step {done}")
            except CheckpointError as e:
                raise TrainError(f"{e}: run stopped; {out / CHECKPOINT} keeps step {saved}") from e
            save_checkpoint(out / CHECKPOINT, _state(cfg, model, optimizer, done, scaling))
        if checkpointing:
            saved = done
    bar.close()
    run_log.close()
    seconds = time.perf_counter() - start
    return RunResult(
        out,
        first,
        total - first,
        last_loss,
        seconds,
        seen / max(seconds, 1e-9),
        skipped_all,  # over every rank, as of the last step (always logged)
        model,
        d.main,
    )


def _stop_if_nonfinite(nonfinite_at: torch.Tensor, d: Dist, out: Path, saved: int) -> None:
    """Raise :class:`TrainError` when any process saw a non-finite loss (before anything of
    that step is logged or saved)."""
    flag = nonfinite_at.clone()
    if d.active:
        flag = torch.where(flag < 0, torch.iinfo(torch.long).max, flag)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        flag = torch.where(flag == torch.iinfo(torch.long).max, -1, flag)
    at = int(flag)
    if at >= 0:
        kept = f"{out / CHECKPOINT} keeps step {saved}" if saved else "no checkpoint was written"
        raise TrainError(
            f"the loss became non-finite (NaN or inf) at step {at}: run stopped; {kept} "
            "(a lower --lr or other data may help)"
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
        "step": step,
        "config": cfg.to_dict(),
        "scaling": scaling.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
    }


def _agreed_resume(
    cfg: PretrainConfig,
    out: Path,
    model: ContrastiveModel,
    optimizer: torch.optim.Optimizer,
    d: Dist,
) -> int:
    """The step to resume from, the same on every rank: each rank loads the checkpoint of the
    shared run folder, rank 0's step decides, and a rank that found another step or none
    stops the run on every rank (one line, before any step is trained)."""
    step, problem = 0, ""
    try:
        step = _resume(cfg, out, model, optimizer)
    except (TrainError, OSError) as e:  # every rank hears of it: none waits in a collective
        problem = str(e)
    try:
        return agree_on_step(d, step, problem)
    except DivergenceError as e:
        raise TrainError(str(e)) from None


def _resume(
    cfg: PretrainConfig, out: Path, model: ContrastiveModel, optimizer: torch.optim.Optimizer
) -> int:
    path = out / CHECKPOINT
    if not path.exists():
        return 0
    try:
        state = load_checkpoint(path)
    except CheckpointError as e:
        raise TrainError(f"{e}{_previous_hint(out)}") from e
    stored, wanted = run_identity(state["config"]), run_identity(cfg.to_dict())
    if stored != wanted:
        diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise TrainError(
            f"{out} holds a run with other settings ({', '.join(diff)}): use the same settings "
            "to resume, or another --out"
        )
    try:
        check_finite(state["model"], path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except CheckpointError as e:
        raise TrainError(f"{e}{_previous_hint(out)}") from e
    except (RuntimeError, ValueError, KeyError) as e:
        first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e))
        raise TrainError(
            f"{path} does not fit this run's model ({first[:160]}){_previous_hint(out)}"
        ) from e
    restore_rng(state["rng"])
    return int(state["step"])


def _previous_hint(out: Path) -> str:
    """Where the checkpoint before the latest one is intact, how to resume from it."""
    prev = out / PREVIOUS
    if not prev.exists():
        return ""
    try:
        step = int(load_checkpoint(prev)["step"])
    except (CheckpointError, KeyError, ValueError):
        return ""
    return f"; {prev.name} (step {step}) is intact: rename it to {CHECKPOINT} to resume from it"
