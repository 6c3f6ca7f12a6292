"""Choosing one scene per season window: the least cloudy by the patch itself.

Scenes above the granule cloud limit are dropped first (a cheap pre-filter, as SeCo and
SSL4EO do). The rest are ranked by the patch's own clear fraction when the source measured it
during search (highest first; ties by granule cloud, then earliest), else by granule cloud.
A season whose best measured clear fraction is below the threshold rejects the location
before any pixels are fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.sources.base import Scene

__all__ = ["ChoiceRules", "Rejected", "rank_scenes", "rank_windows"]


@dataclass(frozen=True)
class ChoiceRules:
    """Cloud rules: the patch must be ≥ ``clear_threshold`` clear in every season."""

    clear_threshold: float = 0.9
    granule_cloud_max: float = 20.0


class Rejected(Exception):
    """The location cannot satisfy the cloud rules; the message is the reason."""


def _key(scene: Scene) -> tuple[float, float, float]:
    clear = -1.0 if scene.clear_fraction is None else scene.clear_fraction
    return (-clear, scene.cloud_percent, float(scene.time.astype("datetime64[ms]").astype(int)))


def rank_scenes(scenes: list[Scene], rules: ChoiceRules) -> list[Scene]:
    """One window's usable scenes, best first."""
    usable = [s for s in scenes if s.cloud_percent <= rules.granule_cloud_max]
    known = [s for s in usable if s.clear_fraction is not None]
    unknown = [s for s in usable if s.clear_fraction is None]
    return sorted(known, key=_key) + sorted(unknown, key=_key)


def rank_windows(found: list[list[Scene]], rules: ChoiceRules) -> list[list[Scene]]:
    """Ranked scenes of every window; raises :class:`Rejected` naming the first failing season."""
    ranked = []
    for season, scenes in enumerate(found):
        if not scenes:
            raise Rejected(f"season {season}: no scene in the window")
        best = rank_scenes(scenes, rules)
        if not best:
            raise Rejected(
                f"season {season}: all {len(scenes)} scenes above {rules.granule_cloud_max:g}% "
                "granule cloud"
            )
        top = best[0].clear_fraction
        if top is not None and top < rules.clear_threshold:
            raise Rejected(
                f"season {season}: best patch clear fraction {top:.2f} < {rules.clear_threshold:.2f}"
            )
        viable = [
            s for s in best if s.clear_fraction is None or s.clear_fraction >= rules.clear_threshold
        ]
        ranked.append(viable)
    return ranked
