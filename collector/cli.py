"""``python -m collector``: plan and collect multi-season Sentinel-2 datasets.

Exit codes: 0 success, 1 the job failed, 2 bad input (the message names the parameter).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.cli import OneLineParser, add_storage_options, run_command, storage_options_arg

__all__ = ["main"]


class UsageError(Exception):
    """A user mistake: printed as one line, exit code 2."""


def _int_list(text: str) -> tuple[int, ...]:
    from shared.validate import ConfigValueError, check_int_list

    try:
        return check_int_list("offsets", text)
    except ConfigValueError as e:
        raise argparse.ArgumentTypeError(str(e).partition(": ")[2]) from e


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments that decide a plan (shared by ``plan`` and ``collect``)."""
    p.add_argument(
        "--recipe",
        default=None,
        help="a dataset's rules: " + ", ".join(_recipes()) + " or a .toml path (flags given "
        "override its settings; default: none)",
    )
    p.add_argument("--region", default="world", help="world, continent, ISO codes, bbox or file")
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="number of locations to collect (required, or a recipe's)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the plan: cities, centres, reference dates"
    )
    p.add_argument("--sigma-km", type=float, default=50.0, help="Gaussian σ around each city")
    p.add_argument("--cities", type=int, default=10_000, help="top-N cities by population")
    p.add_argument(
        "--weighting",
        choices=["uniform", "population"],
        default="uniform",
        help="how a city is chosen: uniformly (SeCo) or by population",
    )
    p.add_argument("--spares", type=float, default=1.5, help="candidates planned per location")
    p.add_argument("--shard-samples", type=int, default=16, help="samples per store shard")
    p.add_argument("--size", type=int, default=264, help="patch size in pixels (10 m)")
    p.add_argument("--seasons", type=int, default=4, help="scenes per location, one per window")
    p.add_argument(
        "--offsets-months",
        type=_int_list,
        default=None,
        help="month offset of each season from the reference date, e.g. 0,3,6,9 (default: "
        "12/SEASONS months apart)",
    )
    p.add_argument("--window-days", type=int, default=15, help="half-width of a season window")
    p.add_argument(
        "--reference-start",
        default="2019-01-01",
        metavar="DATE",
        help="earliest reference date of a location (each gets a seeded date in [start, end))",
    )
    p.add_argument(
        "--reference-end", default="2025-01-01", metavar="DATE", help="end of the reference dates"
    )


def _recipes() -> list[str]:
    from collector.plan.recipes import recipe_names

    return recipe_names()


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action._name_parser_map)
    return {}


def _dests(parser: argparse.ArgumentParser) -> set[str]:
    return {a.dest for a in parser._actions if a.option_strings}


def _kind(action: argparse.Action) -> Any:
    """The type of value an option takes, for checking recipe settings."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return bool
    return {
        int: int,
        float: float,
        _int_list: tuple[int, ...],
        _json_object: dict[str, Any],
        storage_options_arg: dict[str, Any],
    }.get(action.type, str)


def apply_recipe(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str], known: set[str]
) -> dict | None:
    """Fill this command's options not given on the command line from ``--recipe`` (validated
    against ``known``, every setting ``collect`` accepts); returns the recipe's record."""
    if not getattr(args, "recipe", None):
        return None
    from collector.plan.recipes import check_setting_types, load_recipe

    mine = _dests(parser)
    given = {
        a.dest
        for a in parser._actions
        for opt in a.option_strings
        if any(arg == opt or arg.startswith(opt + "=") for arg in argv)
    }
    recipe = load_recipe(args.recipe, known)
    check_setting_types(recipe, {a.dest: _kind(a) for a in parser._actions if a.dest in mine})
    for key, value in recipe.settings.items():
        if key in mine and key not in given:
            setattr(args, key, tuple(value) if isinstance(value, list) else value)
    resolved = {k: getattr(args, k) for k in recipe.settings if k in mine}
    return recipe.record({k: list(v) if isinstance(v, tuple) else v for k, v in resolved.items()})


def plan_config(args: argparse.Namespace):  # -> PlanConfig
    from collector.plan.candidates import PlanConfig

    if args.n is None:
        raise UsageError("--n is required (or a --recipe that sets n)")
    return PlanConfig(
        region=args.region,
        n=args.n,
        seed=args.seed,
        sigma_km=args.sigma_km,
        cities=args.cities,
        weighting=args.weighting,
        spares=args.spares,
        shard_samples=args.shard_samples,
        size=args.size,
        seasons=args.seasons,
        offsets_months=args.offsets_months,
        window_days=args.window_days,
        reference_start=args.reference_start,
        reference_end=args.reference_end,
    )


def _plan(args: argparse.Namespace) -> int:
    from collector.plan.candidates import make_plan, plan_map, summary_lines, write_plan
    from shared.store.location import check_reachable, is_url

    config = plan_config(args)
    if is_url(args.out):  # a folder of an object store: written through a local copy
        if check_reachable(args.out, args.storage_options):
            raise UsageError(f"--out {args.out} is a store; plan into another folder")
        plan = make_plan(config)
        if getattr(args, "recipe_record", None):
            plan.attrs["seco_plan"]["recipe"] = args.recipe_record
        _upload_plan(plan, args.out, args.storage_options)
        print("\n".join(summary_lines(plan)))
        print(f"wrote      {args.out.rstrip('/')}/plan.parquet and map.png")
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    if (out / "zarr.json").exists():  # a store keeps the plan it was collected from
        raise UsageError(f"--out {out} is a store; plan into another folder")
    plan = make_plan(config)
    if getattr(args, "recipe_record", None):
        plan.attrs["seco_plan"]["recipe"] = args.recipe_record
    path = write_plan(plan, out)
    picture = plan_map(plan, out / "map.png")
    print("\n".join(summary_lines(plan)))
    print(f"wrote      {path} and {picture}")
    return 0


def _upload_plan(plan: Any, url: str, storage_options: dict[str, Any] | None) -> None:
    """``plan.parquet`` and ``map.png`` into the object-store folder ``url``."""
    import tempfile

    from collector.plan.candidates import plan_map, write_plan
    from shared.errors import StoreUnreachableError
    from shared.store.location import put_bytes, unreachable_message, zarr_store

    with tempfile.TemporaryDirectory() as tmp:
        files = [write_plan(plan, tmp), plan_map(plan, Path(tmp) / "map.png")]
        try:
            target = zarr_store(url, storage_options=storage_options)
            for f in files:
                put_bytes(target, f.name, f.read_bytes())
        except Exception as e:  # the object store's client errors
            raise StoreUnreachableError(unreachable_message(url, e)) from None


_FAULT_KEYS = {
    "latency": "latency_s",
    "jitter": "jitter",
    "transient": "transient_rate",
    "permanent": "permanent_rate",
    "seed": "seed",
}


def _faults(text: str) -> dict[str, float]:
    """``latency=0.5,transient=0.3,permanent=0.05,seed=1`` → FaultySource keyword arguments."""
    out: dict[str, float] = {}
    for item in (t.strip() for t in text.split(",") if t.strip()):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in _FAULT_KEYS:
            raise argparse.ArgumentTypeError(
                f"--faults item {item!r}: use {', '.join(k + '=…' for k in _FAULT_KEYS)}"
            )
        try:
            out[_FAULT_KEYS[key.strip()]] = float(value)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"--faults {key}: {value!r} is not a number") from e
    return out


def _json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def collect_config(args: argparse.Namespace):  # -> CollectConfig
    from collector.config import CollectConfig, check_source_options
    from collector.sources import SOURCES, source_facts
    from shared.validate import check_choice

    try:
        facts = source_facts(check_choice("source", args.source, SOURCES))
    except ValueError as e:
        raise UsageError(str(e)) from e
    bands = args.bands or facts.default_bands
    level, _, names = bands.partition(":")
    options = dict(args.source_option or {})
    if args.faults:
        faults: dict[str, float | int] = dict(args.faults)
        if "seed" in faults:
            faults["seed"] = int(faults["seed"])
        options["faults"] = faults
    if args.ee_project:
        options["project"] = args.ee_project
    if args.ee_deadline is not None:
        if not args.ee_deadline > 0:
            raise UsageError(f"--ee-deadline must be > 0 seconds, got {args.ee_deadline:g}")
        options["deadline_s"] = args.ee_deadline
    if args.stac is not None and not facts.catalogs:
        raise UsageError(f"--stac {args.stac} needs --source stac")
    if facts.catalogs:
        options["catalog"] = args.stac or options.get("catalog", "earth-search")
    from shared.secrets import remember_secrets

    remember_secrets([options, args.stac or "", args.out])
    try:
        check_source_options(args.source, options)
        if facts.offline_preflight:  # e.g. a bad STAC catalogue is a usage error
            from collector.sources import preflight

            preflight(args.source, options)
        return CollectConfig(
            plan=plan_config(args),
            source=args.source,
            collection=level,
            bands=names or "all",
            clear_threshold=args.clear_threshold,
            granule_cloud_max=args.granule_cloud_max,
            source_options=options,
            truth=args.truth,
            scheduler=args.scheduler or None,
            dashboard=args.dashboard,
            workers=args.workers,
            max_in_flight=args.max_in_flight,
            concurrency=args.concurrency,
            max_attempts=args.max_attempts,
            backoff_s=args.backoff,
            storage_options=args.storage_options or {},
            progress=not args.no_progress,
            recipe=getattr(args, "recipe_record", None),
        )
    except ValueError as e:
        raise UsageError(str(e)) from e


def _collect(args: argparse.Namespace) -> int:
    from collector.run.engine import collect
    from shared.secrets import redact_text

    cfg = collect_config(args)
    if args.dry_run:
        from collector.dryrun import dry_run

        print(f"dry run: {cfg.source} {cfg.collection}, nothing contacted, nothing written")
        print("\n".join(dry_run(cfg).lines()))
        return 0
    from collector.run.outputs import check_output
    from shared.store.location import absolute_location

    check_output(args.out, cfg.storage_options)
    out = absolute_location(args.out)  # the same folder for every worker, wherever it runs
    result = collect(cfg, out, repair=args.repair, log=lambda line: print(redact_text(line)))
    print(f"store      {result.location} (python -m shared info {result.location})")
    return 0


def _import(args: argparse.Namespace) -> int:
    from collector.importers import DataError
    from collector.importers.run import ImportConfig, import_dataset
    from collector.run.outputs import check_output
    from shared.store.location import absolute_location

    try:
        cfg = ImportConfig(
            format=args.format,
            data=args.data,
            level=args.level,
            limit=args.limit,
            shard_samples=args.shard_samples,
            scheduler=args.scheduler or None,
            dashboard=args.dashboard,
            workers=args.workers,
            progress=not args.no_progress,
            storage_options=args.storage_options or {},
        )
        check_output(args.out, cfg.storage_options)
        result = import_dataset(cfg, absolute_location(args.out))
    except DataError as e:
        raise UsageError(str(e)) from e
    print(
        f"imported   {result.imported} location(s) this run, {result.skipped} skipped "
        f"(reasons in {result.location}/report.json)"
    )
    print(f"store      {result.location} (python -m shared info {result.location})")
    return 0


def _dashboard_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dashboard",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where a local cluster's Dask dashboard listens (default 127.0.0.1, any free "
        "port; :8787 for port 8787 on every interface)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m collector", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    p = sub.add_parser("plan", help="draw candidate locations and season windows")
    add_plan_arguments(p)
    p.add_argument(
        "--out",
        required=True,
        help="folder (or object-store URL) for plan.parquet and map.png; collect with the same "
        "settings and --out continues from this plan",
    )
    add_storage_options(p)
    p.set_defaults(func=_plan)
    p = sub.add_parser("collect", help="plan, download and finalize a store")
    add_plan_arguments(p)
    p.add_argument("--out", required=True, help="store path or URL (s3://…, gs://…)")
    p.add_argument("--source", default="earthengine", help="earthengine, stac or synthetic")
    p.add_argument(
        "--bands",
        default=None,
        help="l1c or l2a, optionally :rgb or :B4,B3,B2 (default: l1c, all 13; l2a for STAC)",
    )
    p.add_argument(
        "--clear-threshold", type=float, default=0.9, help="min clear fraction per season"
    )
    p.add_argument(
        "--granule-cloud-max", type=float, default=20.0, help="granule cloud %% pre-filter"
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="tcp://host:port of a Dask scheduler (default: a local cluster)",
    )
    _dashboard_flag(p)
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: cores)")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=None,
        help="cluster-wide requests in flight (default: the source's quota, e.g. 40 for "
        "Earth Engine)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="locations fetched at once per task (default: the source's)",
    )
    p.add_argument(
        "--max-attempts", type=int, default=6, help="attempts per request (transient errors)"
    )
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds")
    p.add_argument(
        "--ee-project", default=None, help="Earth Engine Cloud project (default: $EE_PROJECT)"
    )
    p.add_argument(
        "--ee-deadline",
        type=float,
        default=None,
        metavar="SECONDS",
        help="Earth Engine: give up one HTTP request after this long and retry it (default 180)",
    )
    p.add_argument(
        "--stac",
        default=None,
        metavar="NAME_OR_URL",
        help="STAC catalogue for --source stac: earth-search (default), planetary-computer or "
        "an API root URL",
    )
    p.add_argument(
        "--faults",
        type=_faults,
        default=None,
        metavar="latency=S,jitter=F,transient=P,permanent=P,seed=N",
        help="testing: wrap the source in injected latency and errors (default: none)",
    )
    p.add_argument(
        "--source-option",
        type=_json_object,
        default=None,
        metavar="JSON",
        help='source settings as a JSON object, e.g. \'{"collection_id": "…"}\' for another '
        "STAC API, or an asset map (default: none; secret-looking values are redacted)",
    )
    add_storage_options(p)
    p.add_argument(
        "--truth", action="store_true", help="keep the synthetic world's land cover (evaluation)"
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (shown by default: a bar on a terminal, else a line per 10 %%)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print requests, bytes and time; fetch nothing"
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="rewrite every damaged finished shard (crc mismatch, truncated or missing object, "
        "missing manifest) from the plan",
    )
    p.set_defaults(func=_collect)
    p = sub.add_parser("import", help="turn a published dataset on disk into a store")
    p.add_argument(
        "format",
        choices=["seco", "ssl4eo-s12", "ssl4eo-s12-zarr"],
        help="SeCo-100K/1M folders, SSL4EO-S12 v1 folders, or SSL4EO-S12 v1.1 Zarr zips",
    )
    p.add_argument("data", help="the dataset's folder as downloaded and extracted")
    p.add_argument("--out", required=True, help="store path or URL (s3://…, gs://…)")
    add_storage_options(p)
    p.add_argument(
        "--level", choices=["l1c", "l2a"], default=None, help="processing level (default: DATA's)"
    )
    p.add_argument(
        "--limit", type=int, default=None, help="import the first N locations only (default: all)"
    )
    p.add_argument("--shard-samples", type=int, default=16, help="samples per store shard")
    p.add_argument(
        "--scheduler",
        default=None,
        help="tcp://host:port of a Dask scheduler (default: a local cluster)",
    )
    _dashboard_flag(p)
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; user mistakes print one line, never a traceback."""
    from collector.plan.candidates import PlanError
    from collector.plan.recipes import RecipeError
    from collector.plan.regions import RegionError
    from collector.plan.sampling import SamplingError
    from collector.run.engine import CollectError
    from collector.run.ledger import StoreBusyError
    from collector.sources.base import SourceError
    from shared.errors import StoreError, StoreMismatchError

    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return int(e.code or 0)

    def command() -> int:
        if args.command in ("plan", "collect"):
            commands = _commands(parser)
            args.recipe_record = apply_recipe(
                commands[args.command], args, words, _dests(commands["collect"])
            )
        return int(args.func(args))

    return run_command(
        command,
        (UsageError, RegionError, PlanError, RecipeError, StoreMismatchError, PermissionError),
        (SamplingError, SourceError, CollectError, StoreBusyError, StoreError, OSError),
    )
