"""``python -m tools.gpucheck``: the CUDA fast path checked on a GPU machine in minutes.

Two commands, run in this order by ``scripts/gpu_check.sh`` (``make gpu-check``):

- ``env``: CUDA present, device name, compute capability, bf16 support, torch / CUDA / Triton
  versions, in one line. Exit 1 when CUDA is absent or bf16 unsupported.
- ``steps --store S``: for each objective (seco, moco, moco_tp), ``--steps`` pre-training steps
  eagerly, then the same steps with ``torch.compile`` (encoders and augmentations), both under
  bf16 autocast with channels-last memory (the CUDA defaults), from the store. Every logged
  loss must be finite and the compiled run's losses must match the eager run's: the first
  step within ``FIRST_RTOL`` (same weights, same views: only kernel rounding differs), every
  step within ``STEP_RTOL`` (bf16 rounding then feeds 20 SGD updates). ``--allow-cpu`` runs
  the same on the CPU (fp32 unless ``--bf16``) so that the code path is exercised without a GPU.

Exit codes: 0 passed, 1 a check failed (one line says which), 2 bad input.
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from shared.cli import OneLineParser
from trainer.objectives import OBJECTIVES as ALL_OBJECTIVES

__all__ = ["CheckFailed", "FIRST_RTOL", "STEP_RTOL", "check_environment", "check_steps", "main"]

FIRST_RTOL = 0.02
"""Relative difference allowed between eager and compiled losses at the first logged step."""
STEP_RTOL = 0.05
"""Relative difference allowed between eager and compiled losses at any logged step."""
OBJECTIVES = tuple(ALL_OBJECTIVES)


class CheckFailed(RuntimeError):
    """A check did not pass; the message says which and by how much."""


def check_environment(allow_cpu: bool = False) -> str:
    """One line describing the device the checks run on.

    Raises:
        CheckFailed: no CUDA device (unless ``allow_cpu``), or a CUDA device without bf16.
    """
    import torch

    versions = f"torch {torch.__version__}, CUDA {torch.version.cuda or 'none'}"
    if not torch.cuda.is_available():
        if allow_cpu:
            return f"no CUDA device: checking on the CPU ({versions})"
        raise CheckFailed(
            f"CUDA is not available ({versions}; "
            f"{torch.cuda.device_count()} device(s) visible): run this on an NVIDIA GPU machine"
        )
    name = torch.cuda.get_device_name(0)
    major, minor = torch.cuda.get_device_capability(0)
    if not torch.cuda.is_bf16_supported():
        raise CheckFailed(f"{name} (sm_{major}{minor}) does not support bf16")
    memory = torch.cuda.get_device_properties(0).total_memory / 2**30
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "missing (torch.compile needs it on CUDA)"
    return (
        f"{name}, sm_{major}{minor}, {memory:.0f} GiB, bf16 supported, {versions}, "
        f"Triton {triton_version}, {torch.cuda.device_count()} device(s)"
    )


def _losses(out: Path) -> list[tuple[int, float]]:
    with (out / "log.csv").open() as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def compare_losses(
    objective: str, eager: list[tuple[int, float]], compiled: list[tuple[int, float]]
) -> float:
    """The largest relative difference between two runs' per-step losses.

    Raises:
        CheckFailed: missing or non-finite losses, other steps, or differences beyond
            ``FIRST_RTOL`` (first step) or ``STEP_RTOL`` (any step).
    """
    if not eager or [s for s, _ in eager] != [s for s, _ in compiled]:
        raise CheckFailed(
            f"{objective}: eager and compiled runs logged other steps "
            f"({[s for s, _ in eager]} vs {[s for s, _ in compiled]})"
        )
    worst = 0.0
    for i, ((step, a), (_, b)) in enumerate(zip(eager, compiled, strict=True)):
        if not (math.isfinite(a) and math.isfinite(b)):
            raise CheckFailed(
                f"{objective}: loss not finite at step {step} (eager {a}, compiled {b})"
            )
        rel = abs(a - b) / max(abs(a), 1e-12)
        limit = FIRST_RTOL if i == 0 else STEP_RTOL
        if rel > limit:
            raise CheckFailed(
                f"{objective}: compiled loss {b:.5f} differs from eager {a:.5f} by {rel:.1%} at "
                f"step {step} (allowed {limit:.0%})"
            )
        worst = max(worst, rel)
    return worst


def check_steps(
    store: str,
    out: str,
    steps: int = 20,
    arch: str = "resnet50",
    batch: int = 256,
    size: int = 224,
    queue: int = 16384,
    workers: int = 8,
    bf16: bool | None = None,
    objectives: Sequence[str] = OBJECTIVES,
    log: Callable[[str], object] = print,
    docs: Path | None = None,
) -> dict[str, float]:
    """Eager then compiled runs of every objective; returns the worst relative difference per
    objective. The defaults are the benchmark's (ResNet-50, batch 256, 224 px) so that the
    benchmark after it reuses the compiled kernels from inductor's cache. With ``docs``, the
    figures are recorded there as the ``gpu_check`` section of ``benchmarks.{md,json}``.

    Raises:
        CheckFailed: a loss is non-finite or the runs disagree (see :func:`compare_losses`).
    """
    from tools.trainer_bench import measured_run
    from trainer.loop import pretrain

    worst, seconds = {}, {}
    for objective in objectives:
        runs = {}
        for compiled in (False, True):
            name = f"{objective}-{'compiled' if compiled else 'eager'}"
            folder = Path(out) / name
            shutil.rmtree(folder, ignore_errors=True)
            settings = {"arch": arch, "objective": objective, "batch": batch, "size": size}
            settings |= {"queue": queue, "steps": steps, "workers": workers, "bf16": bf16}
            cfg = measured_run(store, str(folder), compile=compiled, **settings)
            start = time.perf_counter()
            result = pretrain(cfg, log=lambda _: None)
            runs[compiled] = _losses(folder)
            seconds[name] = time.perf_counter() - start
            log(
                f"  {name}: {steps} steps in {seconds[name]:.1f} s, last loss {result.last_loss:.4f}"
            )
        worst[objective] = compare_losses(objective, runs[False], runs[True])
        log(f"  {objective}: compiled matches eager (largest difference {worst[objective]:.2%})")
    if docs is not None:
        _record(worst, seconds, steps, arch, batch, size, docs)
    return worst


def _record(
    worst: dict[str, float],
    seconds: dict[str, float],
    steps: int,
    arch: str,
    batch: int,
    size: int,
    docs: Path,
) -> None:
    """The check's figures as the ``gpu_check`` section of ``docs/benchmarks.{md,json}``."""
    import torch

    from tools.record import record

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    table = [
        (
            f"{objective}: {steps} steps eager / compiled (compile included)",
            f"{seconds[f'{objective}-eager']:.1f} s / {seconds[f'{objective}-compiled']:.1f} s, "
            f"losses within {worst[objective]:.2%}",
        )
        for objective in worst
    ]
    record(
        "gpu_check",
        f"GPU check: eager vs compiled pre-training on {device}",
        f"python -m tools.gpucheck steps --steps {steps} --arch {arch} --batch {batch} "
        f"--size {size} (part of make gpu-check)",
        {f"gpu_check_{k}_max_rel_diff": round(v, 5) for k, v in worst.items()},
        table,
        f"{arch}, batch {batch}, {size} px, bf16 autocast and channels-last (the CUDA "
        f"defaults), from the bench store. Allowed: {FIRST_RTOL:.0%} at the first step, "
        f"{STEP_RTOL:.0%} at any step.",
        docs=docs,
    )


def _env(args: argparse.Namespace) -> int:
    print(f"gpu-check environment: {check_environment(args.allow_cpu)}")
    return 0


def _steps(args: argparse.Namespace) -> int:
    where = check_environment(args.allow_cpu)
    print(f"gpu-check steps on {where.split(',')[0]}: {', '.join(args.objectives)}", flush=True)
    worst = check_steps(
        args.store,
        args.out,
        steps=args.steps,
        arch=args.arch,
        batch=args.batch,
        size=args.size,
        queue=args.queue,
        workers=args.workers,
        bf16=args.bf16,
        objectives=args.objectives,
        log=lambda line: print(line, flush=True),
        docs=Path(args.docs) if args.docs else None,
    )
    print("gpu-check steps passed: " + ", ".join(f"{k} within {v:.2%}" for k, v in worst.items()))
    return 0


def _objectives(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in OBJECTIVES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"objectives must be a comma list of {', '.join(OBJECTIVES)}, got {text!r}"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m tools.gpucheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p = sub.add_parser("env", help="CUDA, device name, bf16 support, versions (one line)")
    p.add_argument("--allow-cpu", action="store_true", help="pass without CUDA (CPU mode)")
    p.set_defaults(func=_env)
    p = sub.add_parser("steps", help="eager vs compiled pre-training steps of every objective")
    p.add_argument("--store", required=True, help="a finished store (e.g. the bench store)")
    p.add_argument("--out", default="runs/gpu-check", help="folder for the runs (replaced)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--queue", type=int, default=16384)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--objectives", type=_objectives, default=list(OBJECTIVES))
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: on CUDA only)",
    )
    p.add_argument("--allow-cpu", action="store_true", help="run on the CPU when CUDA is absent")
    p.add_argument("--docs", default=None, help="record the figures in DOCS/benchmarks.*")
    p.set_defaults(func=_steps)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one check: a failed check prints one line and exits 1; anything unexpected (a
    compiler or CUDA error) keeps its traceback for the log, and the script reports one line."""
    from trainer.cli import run_parsed

    return run_parsed(build_parser(), argv, job_errors=(CheckFailed,))


if __name__ == "__main__":
    raise SystemExit(main())
