"""Filling one shard: every slot gets a location whose seasons all pass the cloud rules.

Per location: search (with retries) → rank each window's scenes → fetch the best scene of
every season → measure each season's clear fraction on the fetched cloud mask → refetch the
next-best scene of a failing season (up to ``refetch`` times) → reject if still failing.

Slots are filled in waves so that the outcome never depends on timing: wave 1 tries every
slot's primary candidate concurrently; the slots that failed (in slot order) then take the
shard's spares in rank order, and so on until the slots are full or the spares run out.

A cloud rejection is final; a source error is not. When slots stay empty and some candidates
failed for source reasons, the outcome is *pending*: the shard is written without its
done-marker and a rerun retries exactly those candidates for exactly those slots
(:class:`Resume`). ``give_up_after`` consecutive source failures (no candidate answered at
all) raise :class:`SourceUnreachableError` instead of trying the rest of the plan.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from collector.run.choose import ChoiceRules, Rejected, rank_windows
from collector.run.report import ShardReport
from collector.sources.base import (
    Location,
    Patch,
    PermanentError,
    Scene,
    Source,
    UnreachableError,
    clear_fraction,
)
from collector.sources.retry import Counters, RetryPolicy, call_with_retries
from shared.layout.native import BandImages
from shared.layout.spec import StoreSpec
from shared.store.writer import ShardData, empty_shard

__all__ = [
    "Candidate",
    "place_patch",
    "ShardRows",
    "LocationResult",
    "Resume",
    "ShardOutcome",
    "SourceUnreachableError",
    "NetworkUnreachableError",
    "collect_location",
    "fill_shard",
    "GIVE_UP_AFTER",
]

Limiter = Callable[[], AbstractContextManager[Any]]
#: consecutive candidates failing for source reasons after which a shard gives up
GIVE_UP_AFTER = 8


class SourceUnreachableError(RuntimeError):
    """Every one of many consecutive candidates failed for source reasons (not clouds)."""


class NetworkUnreachableError(SourceUnreachableError):
    """The source's service cannot be reached at all (name resolution, refused connection)."""


@dataclass(frozen=True)
class Candidate:
    """A plan row as the engine needs it."""

    location: Location
    slot: int  # -1 for spares
    spare_rank: int


@dataclass(frozen=True)
class ShardRows:
    """One shard's plan rows as NumPy columns (compact to hold and to send to a worker);
    :meth:`candidates` builds its :class:`Candidate` objects where they are used."""

    candidate_id: np.ndarray  # (k,) int64
    lon: np.ndarray  # (k,) float64
    lat: np.ndarray
    epsg: np.ndarray  # (k,) int
    transform: np.ndarray  # (k, 6) float64
    slot: np.ndarray  # (k,) int, -1 for spares
    spare_rank: np.ndarray  # (k,) int
    start: np.ndarray  # (k, seasons) datetime64[D]
    end: np.ndarray  # (k, seasons) datetime64[D], exclusive
    size: int

    def __len__(self) -> int:
        return int(self.candidate_id.size)

    def candidates(self) -> tuple[Candidate, ...]:
        """The shard's candidates: primaries with their slot, spares with their rank."""
        out = []
        for i in range(len(self)):
            loc = Location(
                candidate_id=int(self.candidate_id[i]),
                lon=float(self.lon[i]),
                lat=float(self.lat[i]),
                epsg=int(self.epsg[i]),
                transform=tuple(float(v) for v in self.transform[i]),  # type: ignore[arg-type]
                size=self.size,
                windows=tuple(zip(self.start[i], self.end[i], strict=True)),
            )
            out.append(Candidate(loc, int(self.slot[i]), int(self.spare_rank[i])))
        return tuple(out)


@dataclass
class LocationResult:
    candidate_id: int
    patch: Patch | None = None
    clear: np.ndarray | None = None
    reason: str | None = None
    failed: bool = False  # True: source errors (permanent or retries exhausted), not clouds
    counters: Counters = field(default_factory=Counters)


def collect_location(
    source: Source,
    location: Location,
    rules: ChoiceRules,
    policy: RetryPolicy,
    refetch: int = 2,
    limiter: Limiter = nullcontext,
    sleep: Callable[[float], None] = time.sleep,
) -> LocationResult:
    """Search, choose and fetch one location; never raises for source or cloud problems,
    except :class:`UnreachableError` (the service cannot be reached at all)."""
    result = LocationResult(location.candidate_id)
    rng = random.Random(location.candidate_id)  # backoff jitter only: never changes the data

    def guarded(call: Callable[[], Any]) -> Callable[[int], Any]:
        def run(_attempt: int) -> Any:
            with limiter():
                return call()

        return run

    try:
        found = call_with_retries(
            guarded(lambda: source.search(location)), policy, result.counters, rng, sleep
        )
        if len(found) != location.n_seasons:
            raise PermanentError(
                f"source returned {len(found)} windows for {location.n_seasons} seasons"
            )
        ranked = rank_windows(found, rules)
        chosen = [scenes[0] for scenes in ranked]
        patch = call_with_retries(
            guarded(lambda: source.fetch(location, chosen)), policy, result.counters, rng, sleep
        )
        # refetched seasons are written in place: copy only what the source made read-only
        writeable = (
            patch.pixels.writeable
            if isinstance(patch.pixels, BandImages)
            else patch.pixels.flags.writeable
        )
        pixels = patch.pixels if writeable else patch.pixels.copy()
        cloud = patch.cloud if patch.cloud.flags.writeable else patch.cloud.copy()
        clear = np.array([clear_fraction(c) for c in cloud], np.float32)
        for season in range(location.n_seasons):
            tries = 0
            while clear[season] < rules.clear_threshold:
                if tries >= refetch or tries + 1 >= len(ranked[season]):
                    raise Rejected(
                        f"season {season}: fetched patch clear fraction {clear[season]:.2f} < "
                        f"{rules.clear_threshold:.2f} for the {tries + 1} best scene(s)"
                    )
                tries += 1
                scene: Scene = ranked[season][tries]

                def fetch_one(s: Scene = scene) -> Patch:
                    return source.fetch(location, [s])

                one = call_with_retries(
                    guarded(fetch_one),
                    policy,
                    result.counters,
                    rng,
                    sleep,
                )
                pixels[season], cloud[season] = one.pixels[0], one.cloud[0]
                for key, value in one.extra.items():  # per-scene extras follow their scene
                    if key in patch.extra and np.ndim(value) and len(value) == 1:
                        patch.extra[key][season] = value[0]
                chosen[season] = scene
                clear[season] = clear_fraction(one.cloud[0])
        result.patch = Patch(pixels=pixels, cloud=cloud, scenes=tuple(chosen), extra=patch.extra)
        result.clear = clear
    except Rejected as e:
        result.reason = str(e)
    except PermanentError as e:
        result.reason = f"source error: {e}"
        result.failed = True
    return result


@dataclass(frozen=True)
class Resume:
    """A shard written earlier with slots waiting for retries after source errors.

    ``data`` holds the slots filled so far; ``slots`` are the empty ones, ``retry`` the
    candidate ids that failed for source reasons, tried again in (spare rank, id) order.
    """

    data: ShardData
    slots: tuple[int, ...]
    retry: tuple[int, ...]


@dataclass
class ShardOutcome:
    """A filled shard and what it took; ``pending`` is set when it must be retried."""

    data: ShardData
    tried: list[dict[str, Any]]
    counters: Counters
    seconds: float
    pending: dict[str, list[int]] | None = None

    def report(self, shard: int) -> ShardReport:
        return ShardReport(
            shard=shard,
            slots=int(self.data.n_slots),
            filled=int(self.data.valid.sum()),
            tried=len(self.tried),
            rejected=[t for t in self.tried if t["outcome"] != "ok"],
            requests=self.counters.requests,
            retries=self.counters.retries,
            transient_errors=self.counters.transient,
            permanent_errors=self.counters.permanent,
            retries_exhausted=self.counters.exhausted,
            seconds=round(self.seconds, 3),
            pending=self.pending,
        )


def _waves(
    candidates: list[Candidate], slots: int
) -> tuple[dict[int, Candidate], Iterator[Candidate]]:
    primaries = {c.slot: c for c in candidates if c.spare_rank == 0}
    if sorted(primaries) != list(range(slots)):
        raise ValueError(
            f"shard plan has primaries for slots {sorted(primaries)}, expected 0..{slots - 1}"
        )
    spares = sorted(
        (c for c in candidates if c.spare_rank > 0),
        key=lambda c: (c.spare_rank, c.location.candidate_id),
    )
    return primaries, iter(spares)


def fill_shard(
    source: Source,
    spec: StoreSpec,
    shard: int,
    candidates: list[Candidate],
    rules: ChoiceRules,
    policy: RetryPolicy,
    concurrency: int = 1,
    refetch: int = 2,
    limiter: Limiter = nullcontext,
    sleep: Callable[[float], None] = time.sleep,
    resume: Resume | None = None,
    give_up_after: int | None = GIVE_UP_AFTER,
) -> ShardOutcome:
    """Fill every slot of ``shard`` from its candidates (primaries, then spares in rank order),
    or, with ``resume``, only its waiting slots from the candidates that failed before.

    Raises:
        SourceUnreachableError: ``give_up_after`` candidates in a row failed for source reasons,
            or one candidate found the service unreachable (name resolution, refused
            connection: :class:`UnreachableError`).
    """
    start = time.perf_counter()
    if resume is None:
        data = empty_shard(spec, shard)
        primaries, spares = _waves(candidates, data.n_slots)
        assignment = {slot: primaries[slot] for slot in range(data.n_slots)}
    else:
        data = resume.data
        wanted = set(resume.retry)
        pool_order = sorted(
            (c for c in candidates if c.location.candidate_id in wanted),
            key=lambda c: (c.spare_rank, c.location.candidate_id),
        )
        spares = iter(pool_order)
        assignment = {}
        for slot in sorted(resume.slots):
            nxt_candidate = next(spares, None)
            if nxt_candidate is None:
                break
            assignment[slot] = nxt_candidate
    counters = Counters()
    tried: list[dict[str, Any]] = []
    failed_ids: list[int] = []
    streak = 0

    def run(c: Candidate) -> LocationResult:
        try:
            return collect_location(source, c.location, rules, policy, refetch, limiter, sleep)
        except UnreachableError as e:  # every other candidate would fail the same way
            raise NetworkUnreachableError(str(e)) from None

    pool = ThreadPoolExecutor(max(1, concurrency))
    try:
        while assignment:
            slots = sorted(assignment)
            nxt: dict[int, Candidate] = {}
            for slot, res in zip(slots, pool.map(run, [assignment[s] for s in slots]), strict=True):
                counters.merge(res.counters)
                c = assignment[slot]
                entry = {
                    "candidate_id": c.location.candidate_id,
                    "slot": slot,
                    "spare_rank": c.spare_rank,
                }
                if res.patch is not None and res.clear is not None:
                    place_patch(data, slot, c.location, res.patch, res.clear)
                    tried.append({**entry, "outcome": "ok"})
                    streak = 0
                    continue
                tried.append(
                    {
                        **entry,
                        "outcome": "failed" if res.failed else "rejected",
                        "reason": res.reason,
                    }
                )
                if res.failed:
                    failed_ids.append(c.location.candidate_id)
                    streak += 1
                    if give_up_after and streak >= give_up_after:
                        raise SourceUnreachableError(
                            f"{streak} candidates in a row failed for source reasons "
                            f"(last: {res.reason})"
                        )
                else:
                    streak = 0
                spare = next(spares, None)
                if spare is not None:
                    nxt[slot] = spare
            assignment = nxt
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    unfilled = [int(s) for s in np.flatnonzero(~np.asarray(data.valid, bool))]
    pending = None
    if unfilled and failed_ids:  # each retried candidate can fill one slot at most
        pending = {"slots": unfilled[: len(failed_ids)], "retry": sorted(failed_ids)}
    return ShardOutcome(data, tried, counters, time.perf_counter() - start, pending)


def place_patch(data: ShardData, slot: int, loc: Location, patch: Patch, clear: np.ndarray) -> None:
    """Put a fetched patch and its location into ``slot`` of a shard (land cover too, if kept)."""
    if data.landcover is not None:
        if "landcover" not in patch.extra:
            raise PermanentError("the store keeps ground truth but the source gave no land cover")
        data.landcover[slot] = patch.extra["landcover"]
    data.set_slot(
        slot,
        pixels=patch.pixels,
        cloud=patch.cloud,
        clear_fraction=clear,
        time=np.array([s.time for s in patch.scenes], "datetime64[ms]"),
        product_id=np.array([s.id for s in patch.scenes], dtype=object),
        lon=loc.lon,
        lat=loc.lat,
        epsg=loc.epsg,
        transform=np.asarray(loc.transform),
        candidate_id=loc.candidate_id,
    )
