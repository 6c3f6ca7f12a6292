"""Option values and option groups of the collector's commands: the settings that decide a plan
(shared by ``plan`` and ``collect``), the dashboard's address, and the parsers of comma-separated
integers, ``--faults`` and JSON objects."""

from __future__ import annotations

import argparse

__all__ = [
    "add_cluster_arguments",
    "add_dashboard_flag",
    "add_plan_arguments",
    "faults",
    "int_list",
    "json_object",
]


def int_list(text: str) -> tuple[int, ...]:
    from shared.cli import argument_value
    from shared.validate import check_int_list

    return argument_value(check_int_list, "offsets", text)


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
        type=int_list,
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


_FAULT_KEYS = {
    "latency": "latency_s",
    "jitter": "jitter",
    "transient": "transient_rate",
    "permanent": "permanent_rate",
    "seed": "seed",
}


def faults(text: str) -> dict[str, float]:
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


def json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def add_dashboard_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dashboard",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where a local cluster's Dask dashboard listens (default 127.0.0.1, any free "
        "port; :8787 for port 8787 on every interface)",
    )


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """Where shard tasks run: ``--scheduler``, ``--dashboard``, ``--workers`` (collect, import)."""
    p.add_argument(
        "--scheduler",
        default=None,
        help="tcp://host:port of a Dask scheduler (default: a local cluster)",
    )
    add_dashboard_flag(p)
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: cores)")
