"""The plan: every candidate location of a collection, seeded, with its shard and windows.

``make_plan`` draws ``ceil(n × spares)`` mutually non-overlapping candidates. The first ``n``
(in draw order) fill the shards' slots in order; the rest are spares dealt round-robin to the
shards, so a rejected location is replaced inside its own shard by a spare that cannot overlap
anything else in the plan. The plan is written as GeoParquet (``plan.parquet``) with its
parameters in the file metadata; the same parameters give a byte-identical file.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from collector.plan.cities import load_cities
from collector.plan.regions import Region, parse_region
from collector.plan.sampling import SamplingConfig, sample_candidates
from collector.plan.seasons import SeasonConfig, draw_reference_dates, season_windows
from shared.outside import safe_text
from shared.validate import Range, check_fields

__all__ = [
    "PlanConfig",
    "PlanError",
    "make_plan",
    "write_plan",
    "read_plan",
    "plan_windows",
    "PLAN_FILE",
]

PLAN_FILE = "plan.parquet"
_META_KEY = b"seco_plan"


class PlanError(ValueError):
    """The plan's parameters are invalid or cannot be satisfied."""


#: allowed ranges of PlanConfig's numbers (types come from the annotations)
PLAN_LIMITS: dict[str, Range] = {
    "n": Range(1, 100_000_000),
    "seed": Range(0, 2**63 - 1),
    "sigma_km": Range(0, 2_000, low_open=True),
    "cities": Range(1, 10_000_000),
    "spares": Range(1, 100),
    "shard_samples": Range(1, 65_536),
    "size": Range(1, 10_000),
    "resolution_m": Range(0, 10_000, low_open=True),
    "seasons": Range(1, 24),
    "offsets_months": Range(-1200, 1200),
    "window_days": Range(1, 366),
}


@dataclass(frozen=True)
class PlanConfig:
    """Everything that decides a plan. Defaults follow SeCo where it has one."""

    region: str = "world"
    n: int = 1000
    seed: int = 0
    sigma_km: float = 50.0
    cities: int = 10_000
    weighting: str = "uniform"
    spares: float = 1.5
    shard_samples: int = 16
    size: int = 264
    resolution_m: float = 10.0
    seasons: int = 4
    offsets_months: tuple[int, ...] | None = None
    window_days: int = 15
    reference_start: str = "2019-01-01"
    reference_end: str = "2025-01-01"

    def __post_init__(self) -> None:
        check_fields(self, PLAN_LIMITS)
        if not isinstance(self.n, int) or self.n < 1:
            raise PlanError(f"N must be a positive integer, got {self.n!r}")
        if not isinstance(self.cities, int) or self.cities < 1:
            raise PlanError(f"cities must be a positive integer, got {self.cities!r}")
        if not self.spares >= 1.0:
            raise PlanError(f"spares must be ≥ 1 (a factor on N), got {self.spares}")
        if self.shard_samples < 1:
            raise PlanError(f"shard_samples must be ≥ 1, got {self.shard_samples}")
        try:
            self.sampling()
            offsets = self.season_config().offsets()
        except ValueError as e:
            raise PlanError(str(e)) from e
        object.__setattr__(self, "offsets_months", offsets)

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(
            sigma_km=self.sigma_km,
            weighting=self.weighting,
            size=self.size,
            resolution_m=self.resolution_m,
        )

    def season_config(self) -> SeasonConfig:
        return SeasonConfig(
            n_seasons=self.seasons,
            offsets_months=self.offsets_months,
            window_days=self.window_days,
            start=self.reference_start,
            end=self.reference_end,
        )

    @property
    def n_candidates(self) -> int:
        return math.ceil(self.n * self.spares)

    @property
    def n_shards(self) -> int:
        return -(-self.n // self.shard_samples)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["offsets_months"] = list(self.season_config().offsets())
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlanConfig:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if kw.get("offsets_months") is not None:
            kw["offsets_months"] = tuple(kw["offsets_months"])
        return cls(**kw)


def select_cities(region: Region, top: int) -> pd.DataFrame:
    """The ``top`` most populous cities inside ``region``."""
    table = load_cities()
    mask = region.cities_mask(
        table["country"].to_numpy(), table["lon"].to_numpy(), table["lat"].to_numpy()
    )
    chosen = table[mask].head(top).reset_index(drop=True)
    if chosen.empty:
        raise PlanError(f"no cities of ≥ 15,000 inhabitants in REGION {region.describe()}")
    return chosen


def make_plan(config: PlanConfig) -> gpd.GeoDataFrame:
    """Draw the plan for ``config``: one row per candidate, primaries first then spares."""
    region = parse_region(config.region)
    cities = select_cities(region, config.cities)
    rng_loc = np.random.default_rng([config.seed, 0])
    cand = sample_candidates(
        cities, config.n_candidates, config.sampling(), rng_loc, inside=region.contains
    )
    n_total, n, k = config.n_candidates, config.n, config.shard_samples
    order = np.arange(n_total)
    n_shards = config.n_shards
    spare = order >= n
    shard = np.where(spare, (order - n) % n_shards, order // k).astype(np.int32)
    spare_rank = np.where(spare, (order - n) // n_shards + 1, 0).astype(np.int16)
    slot = np.where(spare, -1, order % k).astype(np.int16)
    seasons = config.season_config()
    reference = draw_reference_dates(np.random.default_rng([config.seed, 1]), n_total, seasons)
    start, end = season_windows(reference, seasons)
    cities_used = cities.iloc[cand.city]
    frame = pd.DataFrame(
        {
            "candidate_id": order.astype(np.int64),
            "shard": shard,
            "slot": slot,
            "spare_rank": spare_rank,
            "lon": cand.lon,
            "lat": cand.lat,
            "epsg": cand.epsg.astype(np.int32),
            "transform": list(cand.transform),
            "city": cities_used["name"].to_numpy(),
            "country": cities_used["country"].to_numpy(),
            "population": cities_used["population"].to_numpy(),
            "city_lon": cities_used["lon"].to_numpy(),
            "city_lat": cities_used["lat"].to_numpy(),
            "distance_km": cand.distance_km,
            "reference_date": reference,
        }
    )
    for s in range(config.seasons):
        frame[f"window_start_{s}"] = start[:, s]
        frame[f"window_end_{s}"] = end[:, s]
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(cand.footprint, crs="EPSG:4326"))
    gdf = gdf.rename_geometry("footprint")
    gdf.attrs["seco_plan"] = {
        "config": config.to_dict(),
        "region_label": region.describe(),
        "cities_used": int(len(cities)),
        "draws": cand.draws,
        "rejected_outside_region": cand.rejected_region,
        "rejected_overlap": cand.rejected_overlap,
    }
    return gdf


def write_plan(plan: gpd.GeoDataFrame, directory: str | Path) -> Path:
    """Write ``plan.parquet`` (GeoParquet) into ``directory`` with the plan's metadata."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / PLAN_FILE
    geo = path.with_suffix(".geo.tmp")
    tmp = path.with_suffix(".parquet.tmp")
    # GeoParquet "geo" metadata from geopandas, then ours added by copying row group by row
    # group (a world plan of 1M locations is 1.5M rows: never a second copy in memory)
    plan.to_parquet(geo, index=False, compression="zstd", row_group_size=_PLAN_ROW_GROUP)
    try:
        source = pq.ParquetFile(geo)
        meta = dict(source.schema_arrow.metadata or {})
        meta[_META_KEY] = json.dumps(plan.attrs["seco_plan"], sort_keys=True).encode()
        schema = source.schema_arrow.with_metadata(meta)
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for i in range(source.num_row_groups):
                writer.write_table(source.read_row_group(i).replace_schema_metadata(meta))
    finally:
        geo.unlink(missing_ok=True)
    tmp.replace(path)  # a reader never sees a half-written plan
    return path


#: rows per row group of ``plan.parquet`` (the unit written and read at once)
_PLAN_ROW_GROUP = 131_072


def plan_windows(plan: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` season windows of every row, (n, seasons) datetime64[D], end exclusive."""
    s = 0
    starts, ends = [], []
    while f"window_start_{s}" in plan.columns:
        starts.append(plan[f"window_start_{s}"].to_numpy().astype("datetime64[D]"))
        ends.append(plan[f"window_end_{s}"].to_numpy().astype("datetime64[D]"))
        s += 1
    return np.stack(starts, axis=1), np.stack(ends, axis=1)


#: columns every reader of a plan relies on (besides the season windows)
PLAN_COLUMNS = ("candidate_id", "shard", "slot", "spare_rank", "lon", "lat", "epsg", "transform")


def read_plan(path: str | Path, name: str | None = None) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Read a plan and its metadata (``{"config": …, "draws": …, …}``); ``name``: how the
    plan is named in messages (default: its path).

    Raises:
        PlanError: no plan there, or a file that is not a readable SeCo plan (one line).
    """
    import pyarrow as pa

    p = Path(path)
    if p.is_dir():
        p = p / PLAN_FILE
    shown = safe_text(name or p)
    if not p.is_file():
        raise PlanError(f"no plan at {shown}")
    try:
        meta = pq.read_schema(p).metadata or {}
    except (OSError, pa.ArrowException) as e:
        reason = safe_text(str(e).splitlines()[0] if str(e) else type(e).__name__, 120)
        raise PlanError(f"{shown} is not a readable plan ({reason})") from None
    if _META_KEY not in meta:
        raise PlanError(f"{shown} is not a SeCo plan (no {_META_KEY.decode()} metadata)")
    try:
        info = json.loads(meta[_META_KEY])
    except ValueError:
        info = None
    if not isinstance(info, dict) or not isinstance(info.get("config", {}), dict):
        raise PlanError(
            f"{shown} is not a SeCo plan (its {_META_KEY.decode()} metadata is damaged)"
        )
    try:
        gdf = gpd.read_parquet(p)
    except (OSError, ValueError, pa.ArrowException) as e:
        reason = safe_text(str(e).splitlines()[0] if str(e) else type(e).__name__, 120)
        raise PlanError(f"{shown} is not a readable plan ({reason})") from None
    lacking = [c for c in PLAN_COLUMNS if c not in gdf.columns]
    if lacking or "window_start_0" not in gdf.columns:
        raise PlanError(
            f"{shown} is not a SeCo plan (no column {', '.join(lacking) or 'window_start_0'})"
        )
    gdf.attrs["seco_plan"] = info
    return gdf, info


def plan_map(plan: gpd.GeoDataFrame, path: str | Path) -> Path:
    """``map.png``: the plan's candidates, primaries and spares in two colours."""
    from collector.plan.pictures import location_map

    info = plan.attrs.get("seco_plan", {})
    cfg = info.get("config", {})
    groups = np.where(plan["spare_rank"].to_numpy() > 0, "spare", "primary")
    title = (
        f"Plan: {cfg.get('n', '?'):,} locations + {int((groups == 'spare').sum()):,} spares in "
        f"{info.get('region_label', cfg.get('region', '?'))} — σ {cfg.get('sigma_km', '?')} km "
        f"around {info.get('cities_used', '?'):,} cities, seed {cfg.get('seed', '?')}"
    )
    return location_map(
        plan["lon"].to_numpy(),
        plan["lat"].to_numpy(),
        groups,
        path,
        title,
        {"primary": "tab:blue", "spare": "tab:orange"},
    )


def summary_lines(plan: gpd.GeoDataFrame) -> list[str]:
    """A few lines a person reads after planning."""
    info = plan.attrs["seco_plan"]
    cfg = info["config"]
    return [
        f"region     {info['region_label']} ({info['cities_used']:,} cities, top {cfg['cities']:,})",
        f"locations  {cfg['n']:,} + {len(plan) - cfg['n']:,} spares in "
        f"{-(-cfg['n'] // cfg['shard_samples']):,} shards of {cfg['shard_samples']}",
        f"draws      {info['draws']:,} (outside region {info['rejected_outside_region']:,}, "
        f"overlapping {info['rejected_overlap']:,})",
        f"seasons    {cfg['seasons']} at +{cfg['offsets_months']} months, ±{cfg['window_days']} days,"
        f" reference dates {cfg['reference_start']} .. {cfg['reference_end']}",
    ]
