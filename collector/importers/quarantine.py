"""Quarantine rules of an import: what happens to locations that fail their checks.

* A location that fails its checks (:class:`~collector.importers.base.BadInputError`) is
  skipped: its slot stays empty and ``report.json`` lists it with outcome ``"bad input"`` and
  its reason; the card counts them by reason. The import goes on and ends 0.
* **Duplicate rule**: two locations with the same centre (lon, lat) are one place; the first
  in the dataset's order is kept and every later one is skipped with the note ``duplicate
  location: same lon/lat as sample N`` (:func:`drop_duplicates`, run after the shards are
  written and before finalize; a rerun finds nothing more to drop).
* Before anything is created, :func:`preflight` reads the first locations: if none of them
  passes, DATA is not a dataset of that format (say, no scene folder name parses) and the
  import stops with their reason instead of writing an empty store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from collector.importers.base import BadInputError, DataError, Importer, LocationRef

__all__ = ["BAD_INPUT", "preflight", "drop_duplicates", "rejection"]

#: ``outcome`` of a quarantined location in a shard report (a source error is ``"failed"``)
BAD_INPUT = "bad input"
#: locations :func:`preflight` reads at most
PREFLIGHT = 8


def rejection(sample: int, slot: int, reason: str) -> dict[str, Any]:
    """A shard report's entry for a quarantined location."""
    return {
        "candidate_id": sample,
        "slot": slot,
        "spare_rank": 0,
        "outcome": BAD_INPUT,
        "reason": f"bad input: {reason}",
    }


def preflight(importer: Importer, refs: Sequence[LocationRef], data: Any) -> None:
    """Read up to :data:`PREFLIGHT` of the first locations until one passes.

    Raises:
        DataError: none of them passes (the message gives the first reason).
    """
    reasons: list[str] = []
    for got in importer.read_many(list(refs[:PREFLIGHT])):
        if not isinstance(got, BadInputError):
            return
        reasons.append(str(got))
    if reasons:
        raise DataError(
            f"DATA {data}: none of the first {len(reasons)} location(s) is a readable "
            f"{importer.name} location (first: {reasons[0][:160]}); nothing imported"
        )


def reason_kind(reason: str) -> str:
    """``"bad input: 000123/…/B4.tif: unreadable (TIFF…)"`` → ``"unreadable"``: the problem
    without the location and the details, for counts by reason."""
    import re

    text = reason.removeprefix("bad input: ")
    return re.sub(r"\s*\(.*\)$", "", text.split(": ", 1)[-1] if ": " in text else text)[:60]


def drop_duplicates(store: Any, log: Any = print) -> dict[int, int]:
    """Apply the duplicate rule to a store whose shards are all written: every live sample
    whose (lon, lat) repeats an earlier live sample's is emptied (its shard rewritten with the
    slot reset, the shard's report listing it). Returns ``{shard: samples dropped}``.

    A shard is marked not done before it is rewritten, so a crash in between leaves it to be
    imported again by a rerun (which then drops the duplicate again)."""
    from collector.run.ledger import read_report, write_report
    from collector.run.report import ShardReport
    from shared.store.summary import sample_columns
    from shared.store.writer import clear_shard_marker, read_shard, reset_slots, write_shard

    spec = store.spec
    live, cols = sample_columns(store, ("lon", "lat"))
    if len(live) < 2:
        return {}
    first: dict[tuple[float, float], int] = {}
    drops: dict[int, list[tuple[int, int]]] = {}
    keys = zip(np.asarray(cols["lon"]).tolist(), np.asarray(cols["lat"]).tolist(), strict=True)
    for sample, key in zip(np.asarray(live).tolist(), keys, strict=True):
        if key in first:
            drops.setdefault(sample // spec.shard_samples, []).append((sample, first[key]))
        else:
            first[key] = sample
    for shard, pairs in sorted(drops.items()):
        data = read_shard(store, shard)
        slots = [s - shard * spec.shard_samples for s, _ in pairs]
        reset_slots(data, spec, shard, slots)
        report = read_report(store, shard) or ShardReport(shard)
        for (sample, kept), slot in zip(pairs, slots, strict=True):
            reason = f"sample {sample}: duplicate location (same lon/lat as sample {kept})"
            report.rejected.append(rejection(sample, slot, reason))
            kind = reason_kind(reason)
            report.inputs_rejected[kind] = report.inputs_rejected.get(kind, 0) + 1
        report.filled = int(np.asarray(data.valid, bool).sum())
        clear_shard_marker(store, shard)
        write_report(store, shard, report)
        write_shard(store, shard, data)
    n = sum(len(p) for p in drops.values())
    if n:
        log(f"skipped {n} duplicate location(s) (same lon/lat as an earlier one; see report.json)")
    return {shard: len(p) for shard, p in drops.items()}
