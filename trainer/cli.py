"""``python -m trainer``: pre-train, export, evaluate.

Settings: paper defaults, then ``--config FILE`` (TOML or JSON), then the flags given.
Exit codes: 0 success, 1 the run failed, 2 bad input (the message names it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shared.cli import OneLineParser, add_storage_options, run_command

__all__ = ["main"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _pretrain_fields() -> list[tuple[str, Any, Any]]:
    """``(field name, argparse type or None for on/off switches, default)`` of every
    PretrainConfig field, in declaration order."""
    from dataclasses import fields

    from trainer.config import PretrainConfig

    kinds = {"str": str, "int": int, "float": float, "bool": None}
    out = []
    for f in fields(PretrainConfig):
        text = str(f.type).replace(" ", "")
        base = text.split("|")[0]
        if base not in kinds:
            raise TypeError(f"PretrainConfig.{f.name}: no flag type for {f.type!r}")
        out.append((f.name, kinds[base], f.default))
    return out


class UsageError(Exception):
    """A user mistake: one line, exit code 2."""


def pretrain_config(args: argparse.Namespace):  # -> PretrainConfig
    from trainer.config import PretrainConfig, load_config

    settings: dict[str, Any] = {}
    if args.config:
        settings.update(load_config(args.config))
    for name, _kind, _default in _pretrain_fields():
        value = getattr(args, name)
        if value is not None:  # flags given win over the file, the file over the defaults
            settings[name] = value
    try:
        return PretrainConfig().replace(**settings)
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from e


def _pretrain(args: argparse.Namespace) -> int:
    from trainer.config import check_against_store
    from trainer.loop import pretrain

    cfg = pretrain_config(args)
    # device, arch, bands, size, batch: before anything is allocated; the store is opened here once
    inputs = check_against_store(cfg, storage_options=args.storage_options)
    result = pretrain(cfg, storage_options=args.storage_options, inputs=inputs)
    if result.steps and result.main:  # one summary line per run, not one per rank
        print(
            f"trained steps {result.first_step}..{result.first_step + result.steps} in "
            f"{result.seconds:.0f} s ({result.locations_per_s:.1f} locations/s), last loss "
            f"{result.last_loss:.4f}; checkpoint {result.out}/checkpoint.pt"
            + (f"; {result.skipped} unreadable sample(s) skipped" if result.skipped else "")
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    from shared.validate import check_path
    from trainer.export import check_export_folder, export_encoder
    from trainer.weights import read_weights_file
    from trainer.weights_foreign import export_foreign
    from trainer.weights_formats import weights_format

    check_path("--out", args.out, "dir-or-new")
    check_export_folder(args.out)  # a store or another program's folder stays untouched
    fmt = weights_format(read_weights_file(args.checkpoint))
    if fmt is not None and fmt.ours:
        folder = export_encoder(args.checkpoint, args.out)
    else:  # an official SeCo checkpoint or a torchgeo / timm state dict
        folder = export_foreign(args.checkpoint, args.out, args.arch)
    print(f"exported {folder}/model.safetensors and config.json")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from shared.layout.bands import band_names, resolve_bands
    from trainer.config import check_evaluation, check_protocols
    from trainer.evaluate.run import TASKS, evaluate

    try:
        bands = resolve_bands(args.bands, band_names("L1C"))
    except ValueError as e:
        raise UsageError(str(e)) from e
    if args.old_setting is not None:
        print("note: --protocol is deprecated; use --setting", file=sys.stderr)
        args.setting = args.old_setting
    if args.out is None:
        from trainer.evaluate.run import default_out

        args.out = str(default_out(args.encoder))
    protocols = check_protocols(args.protocols, TASKS[args.task].kind)
    check_evaluation(
        args.data, args.encoder, args.size, args.device, args.change_steps, args.storage_options
    )
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
        encoder_arch=args.encoder_arch,
        setting=args.setting,
        epochs=args.epochs,
        rounds=args.bootstrap,
        options={
            "bigearthnet_classes": args.bigearthnet_classes,
            "label_fraction": args.label_fraction,
            "val_cities": args.val_cities,
            "storage_options": args.storage_options,
        },
    )
    print((Path(args.out) / "results.md").read_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m trainer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p = sub.add_parser(
        "pretrain",
        help="SeCo (or MoCo, MoCo-TP) pre-training from a store",
        description=(
            "Pre-train an encoder on a store. Settings: the defaults shown (SeCo's), then "
            "--config FILE, then the flags given. The run folder gets run.toml (the resolved "
            "settings; --config run.toml repeats the run), log.csv and tensorboard/. Rerunning "
            "the same command resumes from checkpoint.pt."
        ),
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="TOML or JSON table of settings (field names as below, with underscores); "
        "flags given override it (default: none)",
    )
    from trainer.config import SETTING_HELP

    for name, kind, default in _pretrain_fields():
        text = SETTING_HELP[name].replace("%", "%%")
        shown = "unset" if default is None else default
        if kind is None:
            p.add_argument(
                _flag(name),
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{text} (default: {'unset' if default is None else 'on' if default else 'off'})",
            )
        else:
            p.add_argument(
                _flag(name),
                dest=name,
                type=kind,
                default=None,
                metavar=name.upper(),
                help=f"{text} (default: {shown})",
            )
    add_storage_options(p)
    p.set_defaults(func=_pretrain)
    p = sub.add_parser("export", help="encoder weights for timm (safetensors + config.json)")
    p.add_argument(
        "checkpoint",
        help="our checkpoint, an official SeCo .ckpt or a torchgeo/timm ResNet state dict",
    )
    p.add_argument("--out", required=True, help="export folder (model.safetensors + config.json)")
    p.add_argument(
        "--arch",
        default=None,
        help="timm architecture when it cannot be inferred (default: inferred)",
    )
    p.set_defaults(func=_export)
    from trainer.evaluate.run import TASKS

    p = sub.add_parser("evaluate", help="linear probe, kNN, change detection on frozen encoders")
    p.add_argument(
        "--task", required=True, choices=list(TASKS), help="the downstream task (required)"
    )
    p.add_argument("--data", required=True, help="store (synthetic tasks) or dataset folder")
    p.add_argument(
        "--encoder",
        action="append",
        required=True,
        help="checkpoint, export folder, official SeCo .ckpt, state dict, "
        "imagenet:<arch>[=<file>], random[:arch] or random:same (the others' architecture); "
        "repeatable",
    )
    p.add_argument(
        "--encoder-arch",
        default=None,
        help="timm architecture of state dicts it cannot infer (default: inferred)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="results folder (default: <run>/eval beside the first encoder that is a run's "
        "checkpoint.pt or export folder, else runs/eval)",
    )
    p.add_argument(
        "--protocols",
        default=None,
        help="linear,knn,finetune or change (default: per task, linear,knn or change)",
    )
    p.add_argument("--size", type=int, default=224, help="input side fed to the encoder")
    p.add_argument(
        "--bands", default="rgb", help="bands of random encoders (others bring their own)"
    )
    p.add_argument(
        "--multilabel",
        action="store_true",
        help="land cover as multi-label presence (default: off)",
    )
    p.add_argument("--change-steps", type=int, default=300, help="decoder training steps")
    p.add_argument(
        "--setting",
        choices=("default", "paper"),
        default="default",
        help="default: our faster protocols; paper: the official SeCo settings per task",
    )
    p.add_argument(
        "--protocol",
        choices=("default", "paper"),
        default=None,
        dest="old_setting",
        help="deprecated spelling of --setting (one letter away from --protocols; default: unset)",
    )
    p.add_argument(
        "--epochs", type=int, default=100, help="epochs of the paper protocol's head or decoder"
    )
    p.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap resamples for 95 %% intervals"
    )
    p.add_argument(
        "--bigearthnet-classes", type=int, choices=(19, 43), default=19, help="nomenclature"
    )
    p.add_argument(
        "--label-fraction",
        type=float,
        default=1.0,
        help="fraction of BigEarthNet training labels kept (a fixed subset, e.g. 0.01, 0.1)",
    )
    p.add_argument(
        "--val-cities",
        type=int,
        default=None,
        help="OSCD train cities held out for validation (default: 3)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--seed", type=int, default=0, help="seed of random encoders, splits and heads")
    add_storage_options(p)
    p.set_defaults(func=_evaluate)
    return parser


def run_parsed(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    command: Callable[[argparse.Namespace], int] | None = None,
    job_errors: tuple[type[BaseException], ...] = (),
) -> int:
    """Parse ``argv`` and run ``command(args)`` (default: the subcommand's ``func``): a usage
    mistake exits 2, a store, training or ``job_errors`` error 1, each as one line."""
    from shared.errors import NotAStoreError, StoreError
    from trainer.loop import TrainError

    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    run = command or args.func
    return run_command(
        lambda: run(args),
        (UsageError, NotAStoreError, FileNotFoundError),
        (TrainError, StoreError, ValueError, OSError, *job_errors),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; user mistakes print one line, never a traceback."""
    return run_parsed(build_parser(), argv)
