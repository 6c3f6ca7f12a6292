"""``python -m trainer``: pre-train, export, evaluate.

Settings: paper defaults, then ``--config FILE`` (TOML or JSON), then the flags given.
Exit codes: 0 success, 1 the run failed, 2 bad input (the message names it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.cli import OneLineParser, run_command

__all__ = ["main"]

#: flag → (PretrainConfig field, type)
_PRETRAIN_FLAGS: dict[str, tuple[str, Any]] = {
    "--store": ("store", str),
    "--out": ("out", str),
    "--arch": ("arch", str),
    "--bands": ("bands", str),
    "--objective": ("objective", str),
    "--epochs": ("epochs", float),
    "--steps": ("steps", int),
    "--batch": ("batch", int),
    "--size": ("size", int),
    "--lr": ("lr", float),
    "--schedule": ("schedule", str),
    "--queue": ("queue", int),
    "--seed": ("seed", int),
    "--workers": ("workers", int),
    "--checkpoint-every": ("checkpoint_every", int),
    "--log-every": ("log_every", int),
    "--device": ("device", str),
}


class UsageError(Exception):
    """A user mistake: one line, exit code 2."""


def pretrain_config(args: argparse.Namespace):  # -> PretrainConfig
    from trainer.config import PretrainConfig, load_config

    settings: dict[str, Any] = {}
    if args.config:
        settings.update(load_config(args.config))
    for _flag, (name, _type) in _PRETRAIN_FLAGS.items():
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    for flag in ("compile", "with_replacement"):
        if getattr(args, flag):
            settings[flag] = True
    if args.no_progress:
        settings["progress"] = False
    if args.bf16 is not None:
        settings["bf16"] = args.bf16
    try:
        return PretrainConfig().replace(**settings)
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from e


def _pretrain(args: argparse.Namespace) -> int:
    from trainer.loop import pretrain

    cfg = pretrain_config(args)
    result = pretrain(cfg)
    if result.steps:
        print(
            f"trained steps {result.first_step}..{result.first_step + result.steps} in "
            f"{result.seconds:.0f} s ({result.locations_per_s:.1f} locations/s), last loss "
            f"{result.last_loss:.4f}; checkpoint {result.out}/checkpoint.pt"
            + (f"; {result.skipped} unreadable sample(s) skipped" if result.skipped else "")
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    from trainer.export import export_encoder

    folder = export_encoder(args.checkpoint, args.out)
    print(f"exported {folder}/model.safetensors and config.json")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from shared.bands import band_names, resolve_bands
    from trainer.evaluate.run import evaluate

    try:
        bands = resolve_bands(args.bands, band_names("L1C"))
    except ValueError as e:
        raise UsageError(str(e)) from e
    protocols = tuple(p.strip() for p in args.protocols.split(",")) if args.protocols else None
    evaluate(
        args.task,
        args.data,
        args.encoder,
        args.out,
        protocols=protocols,
        size=args.size,
        bands=bands,
        device=args.device,
        seed=args.seed,
        multilabel=args.multilabel,
        change_steps=args.change_steps,
    )
    print((Path(args.out) / "results.md").read_text())
    return 0


def _bench(args: argparse.Namespace) -> int:
    import torch

    from trainer.bench import run

    cuda = torch.cuda.is_available()
    figures = run(
        args.store,
        args.arch or ("resnet50" if cuda else "resnet18"),
        args.batch or (256 if cuda else 16),
        args.size or (224 if cuda else 64),
        args.steps or (50 if cuda else 4),
        args.compile,
        args.workers,
        args.reader_locations,
        bands=[b.strip() for b in args.bands.split(",") if b.strip()],
        docs=Path(args.docs) if args.docs else None,
    )
    print("  ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m trainer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p = sub.add_parser("pretrain", help="SeCo (or MoCo, MoCo-TP) pre-training from a store")
    p.add_argument("--config", default=None, help="TOML or JSON file of settings")
    for flag, (name, kind) in _PRETRAIN_FLAGS.items():
        p.add_argument(flag, dest=name, type=kind, default=None)
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the encoders and augmentations"
    )
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: on CUDA only; --bf16 on the CPU too, --no-bf16 never)",
    )
    p.add_argument(
        "--with-replacement",
        action="store_true",
        help="seasons drawn with replacement (as the original code)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_pretrain)
    p = sub.add_parser("export", help="encoder weights for timm (safetensors + config.json)")
    p.add_argument("checkpoint")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_export)
    from trainer.evaluate.run import TASKS

    p = sub.add_parser("evaluate", help="linear probe, kNN, change detection on frozen encoders")
    p.add_argument("--task", required=True, choices=list(TASKS))
    p.add_argument("--data", required=True, help="store (synthetic tasks) or dataset folder")
    p.add_argument(
        "--encoder",
        action="append",
        required=True,
        help="checkpoint, export folder or random[:arch]; repeatable",
    )
    p.add_argument("--out", required=True)
    p.add_argument(
        "--protocols", default=None, help="linear,knn,finetune or change (default per task)"
    )
    p.add_argument("--size", type=int, default=224, help="input side fed to the encoder")
    p.add_argument(
        "--bands", default="rgb", help="bands of random encoders (others bring their own)"
    )
    p.add_argument("--multilabel", action="store_true", help="land cover as multi-label presence")
    p.add_argument("--change-steps", type=int, default=300, help="decoder training steps")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_evaluate)
    p = sub.add_parser(
        "bench", help="step ceiling vs pipeline from a store, reader vs decode bound"
    )
    p.add_argument("--store", required=True)
    p.add_argument("--arch", default=None, help="timm name or comma list (default per device)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--reader-locations", type=int, default=300, help="P2 sample size; 0 skips P2")
    p.add_argument("--bands", default="rgb,all", help="band sets of P1 and P2: rgb, all or both")
    p.add_argument("--docs", default=None, help="folder of benchmarks.{md,json} (default docs/)")
    p.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; user mistakes print one line, never a traceback."""
    from shared.errors import NotAStoreError, StoreError
    from trainer.loop import TrainError

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return run_command(
        lambda: args.func(args),
        (UsageError, NotAStoreError, FileNotFoundError),
        (TrainError, StoreError, ValueError, OSError),
    )
