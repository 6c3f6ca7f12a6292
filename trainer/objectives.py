"""The pre-training objectives as records: seasons drawn, heads, views and loss.

Add an objective with one :class:`Objective` in :data:`OBJECTIVES` (and, for a new loss, its
function in :mod:`trainer.methods`); callers ask the record, never compare names. This module
imports no torch, so configuration checks stay light.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.validate import check_choice

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


_SECO_VIEWS = (View("q", 0, False), View("k0", 1, True), View("k1", 2, False), View("k2", 0, True))
_TP_VIEWS = (View("q", 0, True), View("k", 1, True))
#: every objective by name: (name, seasons, heads, views, loss, help)
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("seco", 3, 3, _SECO_VIEWS, "subspaces", "3 subspaces"),
        Objective("moco", 1, 1, (View("q", 0, True), View("k", 0, True)), "pair", "MoCo-v2"),
        Objective("moco_tp", 2, 1, _TP_VIEWS, "pair", "two seasons as positives"),
    )
}


def objective_named(name: str) -> Objective:
    """The objective called ``name``; a ValueError naming the choices for any other name."""
    return OBJECTIVES[check_choice("objective", name, OBJECTIVES)]
