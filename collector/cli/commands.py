"""What ``plan``, ``collect`` and ``import`` do with their parsed arguments: the configurations
they build and the runs they start. A user mistake raises :class:`UsageError`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = [
    "UsageError",
    "collect_config",
    "plan_config",
    "run_collect",
    "run_import",
    "run_plan",
]


class UsageError(Exception):
    """A user mistake: printed as one line, exit code 2."""


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


def run_plan(args: argparse.Namespace) -> int:
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


def run_collect(args: argparse.Namespace) -> int:
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


def run_import(args: argparse.Namespace) -> int:
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
