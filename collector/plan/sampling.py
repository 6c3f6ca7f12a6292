"""Gaussian sampling of patch centres around cities, with exact non-overlap of footprints.

A centre is drawn around a chosen city at a geodesic distance with Rayleigh(σ) law in a
uniform direction: an isotropic 2-D Gaussian of standard deviation σ km per axis, measured on
the ellipsoid, so the longitude spread widens by 1/cos(lat) as it should and the mean distance
to the city is σ·√(π/2) at any latitude.

Non-overlap is decided on the patches' real footprints (their UTM squares in lon/lat), not
on centre distances: a candidate is rejected when its footprint intersects, or touches, the
footprint of any candidate accepted before it in draw order. The result equals the sequential
rule exactly but runs in batches over shapely STR-trees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod

from shared.layout.grid import footprints, snap_grids

__all__ = ["SamplingConfig", "Candidates", "sample_candidates", "SamplingError"]

_GEOD = Geod(ellps="WGS84")
#: UTM (and so the patch grid) is defined from 80° S to 84° N.
LAT_MIN, LAT_MAX = -80.0, 84.0


class SamplingError(ValueError):
    """The requested number of locations cannot be drawn (region too small, too few cities)."""


@dataclass(frozen=True)
class SamplingConfig:
    """Gaussian sampling around cities. ``weighting``: ``"uniform"`` (SeCo) or ``"population"``."""

    sigma_km: float = 50.0
    weighting: str = "uniform"
    size: int = 264
    resolution_m: float = 10.0
    max_draws_factor: float = 50.0

    def __post_init__(self) -> None:
        if not self.sigma_km > 0:
            raise ValueError(f"sigma_km must be > 0, got {self.sigma_km}")
        if self.weighting not in ("uniform", "population"):
            raise ValueError(f"weighting must be 'uniform' or 'population', got {self.weighting!r}")
        if self.size < 1:
            raise ValueError(f"size must be ≥ 1 pixel, got {self.size}")


@dataclass
class Candidates:
    """Accepted candidates in draw order, with what it took to get them."""

    city: np.ndarray  # (n,) row index into the city table
    lon: np.ndarray
    lat: np.ndarray
    epsg: np.ndarray
    transform: np.ndarray  # (n, 6)
    footprint: np.ndarray  # (n,) shapely polygons
    distance_km: np.ndarray
    draws: int
    rejected_region: int
    rejected_overlap: int


def _draw(
    rng: np.random.Generator, cities: pd.DataFrame, n: int, cfg: SamplingConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if cfg.weighting == "population":
        p = cities["population"].to_numpy(float)
        city = rng.choice(len(cities), size=n, p=p / p.sum())
    else:
        city = rng.integers(0, len(cities), n)
    azimuth = rng.uniform(-180.0, 180.0, n)
    distance_m = cfg.sigma_km * 1000.0 * np.sqrt(-2.0 * np.log1p(-rng.random(n)))  # Rayleigh
    lon0 = cities["lon"].to_numpy()[city]
    lat0 = cities["lat"].to_numpy()[city]
    lon, lat, _ = _GEOD.fwd(lon0, lat0, azimuth, distance_m)
    lon = (np.asarray(lon) + 180.0) % 360.0 - 180.0
    return city, lon, np.asarray(lat), distance_m / 1000.0


def _seam_copies(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Copies of antimeridian-crossing footprints shifted by ∓360°, with their source rows."""
    b = shapely.bounds(polys)
    east, west = b[:, 2] > 180.0, b[:, 0] < -180.0
    rows = np.concatenate([np.flatnonzero(east), np.flatnonzero(west)])
    shifted = np.concatenate(
        [
            shapely.transform(polys[east], lambda c: c - [360.0, 0.0]),
            shapely.transform(polys[west], lambda c: c + [360.0, 0.0]),
        ]
    )
    return shifted, rows


class _Index:
    """STR-tree over accepted footprints (seam copies included), rebuilt per batch."""

    def __init__(self) -> None:
        self.polys: list[np.ndarray] = []
        self.tree: shapely.STRtree | None = None

    def add(self, polys: np.ndarray) -> None:
        shifted, _ = _seam_copies(polys)
        self.polys += [polys, shifted]
        self.tree = shapely.STRtree(np.concatenate(self.polys))

    def hits(self, polys: np.ndarray) -> np.ndarray:
        """Mask of ``polys`` that intersect an indexed footprint."""
        hit = np.zeros(polys.size, bool)
        if self.tree is None:
            return hit
        shifted, rows = _seam_copies(polys)
        q = self.tree.query(np.concatenate([polys, shifted]), predicate="intersects")[0]
        src = np.concatenate([np.arange(polys.size), rows])
        hit[src[q]] = True
        return hit


def _greedy_within(polys: np.ndarray) -> np.ndarray:
    """Mask of footprints kept by the in-order rule inside one batch."""
    keep = np.ones(polys.size, bool)
    shifted, rows = _seam_copies(polys)
    allp = np.concatenate([polys, shifted])
    owner = np.concatenate([np.arange(polys.size), rows])
    a, b = shapely.STRtree(allp).query(allp, predicate="intersects")
    a, b = owner[a], owner[b]
    sel = a < b
    if not sel.any():
        return keep
    earlier, later = a[sel], b[sel]
    # Fixed point of the in-order rule, vectorised: a footprint is kept once all its earlier
    # neighbours are rejected, rejected once one of them is kept. Each round settles at least
    # the earliest undecided footprint, so this ends; rounds ≈ the longest chain of overlaps.
    n = polys.size
    n_earlier = np.bincount(later, minlength=n)
    state = np.where(n_earlier == 0, 1, 0)  # 1 kept, -1 rejected, 0 undecided
    while (state == 0).any():
        s_prev = state[earlier]
        kept_before = np.bincount(later, weights=s_prev == 1, minlength=n) > 0
        rejected_before = np.bincount(later, weights=s_prev == -1, minlength=n)
        undecided = state == 0
        state[undecided & kept_before] = -1
        state[undecided & ~kept_before & (rejected_before == n_earlier)] = 1
    return state == 1


def accept(index: _Index, polys: np.ndarray) -> np.ndarray:
    """Mask of ``polys`` (in draw order) kept by the sequential rule, given ``index``."""
    fresh = ~index.hits(polys)
    fresh[fresh] = _greedy_within(polys[fresh])
    return fresh


def sample_candidates(
    cities: pd.DataFrame,
    n: int,
    cfg: SamplingConfig,
    rng: np.random.Generator,
    inside: object = None,
) -> Candidates:
    """Draw ``n`` mutually non-overlapping candidates around ``cities``.

    ``inside(lon, lat) -> mask`` rejects centres outside the region. Raises
    :class:`SamplingError` when ``n`` cannot be reached within ``max_draws_factor × n`` draws.
    """
    if n < 1:
        raise ValueError(f"number of candidates must be ≥ 1, got {n}")
    if len(cities) == 0:
        raise SamplingError("no cities to sample around")
    index = _Index()
    parts: list[dict[str, np.ndarray]] = []
    have = draws = rej_region = rej_overlap = 0
    limit = int(cfg.max_draws_factor * n) + 1000
    keep_rate = 1.0
    while have < n:
        if draws >= limit:
            raise SamplingError(
                f"only {have} of {n} non-overlapping locations after {draws} draws: the region "
                f"is too small or too crowded for this N (lower N or raise sigma_km)"
            )
        remaining = n - have
        # expected need at the observed keep rate, but never many times what is missing: in a
        # saturated cluster every footprint overlaps every other and pairs grow quadratically
        batch = int(
            min(max(remaining / keep_rate * 1.1, 256), 4 * remaining + 256, limit - draws + 256)
        )
        city, lon, lat, dist = _draw(rng, cities, batch, cfg)
        draws += batch
        ok = (lat >= LAT_MIN) & (lat <= LAT_MAX)
        if inside is not None:
            ok &= inside(lon, lat)  # type: ignore[operator]
        rej_region += int((~ok).sum())
        city, lon, lat, dist = city[ok], lon[ok], lat[ok], dist[ok]
        epsg, transform = snap_grids(lon, lat, cfg.size, cfg.resolution_m)
        polys = footprints(epsg, transform, cfg.size, points_per_edge=1)
        fresh = accept(index, polys)
        rej_overlap += int((~fresh).sum())
        take = np.flatnonzero(fresh)[: n - have]
        keep_rate = max(fresh.sum() / batch, 1e-3)
        if take.size:
            parts.append(
                {
                    "city": city[take],
                    "lon": lon[take],
                    "lat": lat[take],
                    "epsg": epsg[take],
                    "transform": transform[take],
                    "footprint": polys[take],
                    "distance_km": dist[take],
                }
            )
            index.add(polys[take])
            have += take.size
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return Candidates(**cat, draws=draws, rejected_region=rej_region, rejected_overlap=rej_overlap)
