"""What one shard task reports, for collections and imports alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["ShardReport", "COUNTERS"]

#: the request counters a shard report carries (an import makes no requests: all zero)
COUNTERS = ("requests", "retries", "transient_errors", "permanent_errors", "retries_exhausted")


@dataclass
class ShardReport:
    """One shard task's outcome: slots filled, candidates tried, what was rejected and why.

    ``rejected`` lists every candidate (or imported location) that did not fill a slot, each
    ``{"candidate_id", "slot", "spare_rank", "outcome": "rejected"|"failed", "reason"}``;
    ``inputs_rejected`` counts untrusted inputs refused before reading, by reason (imports);
    ``pending`` names the slots waiting for a retry after source errors (the shard is then
    written without its done-marker); ``skipped``: the shard was already done.
    """

    shard: int
    slots: int = 0
    filled: int = 0
    tried: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    inputs_rejected: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    transient_errors: int = 0
    permanent_errors: int = 0
    retries_exhausted: int = 0
    seconds: float = 0.0
    pending: dict[str, list[int]] | None = None
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape of ``reports/shard-NNNNNN.json``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardReport:
        """The report from :meth:`to_json`'s dict (unknown keys ignored, missing ones zero)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def failed(self) -> int:
        """Candidates that failed for source reasons (not clouds)."""
        return sum(1 for r in self.rejected if r.get("outcome") == "failed")

    def merged_with(self, previous: ShardReport | None) -> ShardReport:
        """This run's report of a retried shard, with the earlier runs' attempts and counts."""
        if previous is None:
            return self
        out = ShardReport.from_json(self.to_json())
        out.rejected = list(previous.rejected) + list(self.rejected)
        out.tried = previous.tried + self.tried
        for key in COUNTERS:
            setattr(out, key, int(getattr(previous, key)) + int(getattr(self, key)))
        out.seconds = round(previous.seconds + self.seconds, 3)
        return out
