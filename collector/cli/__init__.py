"""``python -m collector``: plan and collect multi-season Sentinel-2 datasets.

Exit codes: 0 success, 1 the job failed, 2 bad input (the message names the parameter).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector.cli.arguments import add_cluster_arguments, add_plan_arguments, faults, json_object
from collector.cli.commands import UsageError, run_collect, run_import, run_plan
from collector.cli.recipe import apply_recipe, command_parsers, option_dests
from shared.cli import OneLineParser, add_storage_options, run_command

__all__ = ["main"]


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
    p.set_defaults(func=run_plan)
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
    add_cluster_arguments(p)
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
        type=faults,
        default=None,
        metavar="latency=S,jitter=F,transient=P,permanent=P,seed=N",
        help="testing: wrap the source in injected latency and errors (default: none)",
    )
    p.add_argument(
        "--source-option",
        type=json_object,
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
    p.set_defaults(func=run_collect)
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
    add_cluster_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_import)
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
            commands = command_parsers(parser)
            args.recipe_record = apply_recipe(
                commands[args.command], args, words, option_dests(commands["collect"])
            )
        return int(args.func(args))

    return run_command(
        command,
        (UsageError, RegionError, PlanError, RecipeError, StoreMismatchError, PermissionError),
        (SamplingError, SourceError, CollectError, StoreBusyError, StoreError, OSError),
    )
