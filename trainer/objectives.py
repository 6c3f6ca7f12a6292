"""The pre-training objectives as records: seasons drawn, heads, views and loss.

Add an objective with one :class:`Objective` in :data:`OBJECTIVES` (and, for a new loss, its
function in :mod:`trainer.methods`); callers ask the record, never compare names. This module
imports no torch, so configuration checks stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["View", "Objective", "OBJECTIVES", "objective_named"]


@dataclass(frozen=True)
class View:
    """One view fed to an encoder: ``name`` (``q`` is the query, the rest are keys), which of
    the drawn seasons it shows, and whether it gets the artificial augmentations or a crop
    only."""

    name: str
    season: int
    augmented: bool


@dataclass(frozen=True)
class Objective:
    """One pre-training objective.

    ``seasons``: seasons drawn per location; ``heads``: projection heads (one queue each);
    ``views``: what each encoder sees, in the order they are drawn; ``loss``: ``subspaces``
    (SeCo's three InfoNCE losses over shared batch negatives) or ``pair`` (one InfoNCE loss of
    ``q`` against ``k``); ``help``: one line for ``--help``.
    """

    name: str
    seasons: int
    heads: int
    views: tuple[View, ...]
    loss: Literal["subspaces", "pair"]
    help: str

    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.views)


#: every objective by name
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective(
            "seco",
            seasons=3,
            heads=3,
            views=(
                View("q", 0, False),
                View("k0", 1, True),
                View("k1", 2, False),
                View("k2", 0, True),
            ),
            loss="subspaces",
            help="3 subspaces",
        ),
        Objective(
            "moco",
            seasons=1,
            heads=1,
            views=(View("q", 0, True), View("k", 0, True)),
            loss="pair",
            help="MoCo-v2",
        ),
        Objective(
            "moco_tp",
            seasons=2,
            heads=1,
            views=(View("q", 0, True), View("k", 1, True)),
            loss="pair",
            help="two seasons as positives",
        ),
    )
}


def objective_named(name: str) -> Objective:
    """The objective called ``name``.

    Raises:
        ValueError: no such objective (the message lists them).
    """
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}: choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
