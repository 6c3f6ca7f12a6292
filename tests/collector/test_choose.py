import numpy as np
import pytest

from collector.run.choose import ChoiceRules, Rejected, rank_scenes, rank_windows
from collector.sources.base import Scene

T0 = np.datetime64("2021-06-01T10:30", "ms")


def scene(i, granule, clear, day=0):
    return Scene(f"s{i}", T0 + np.timedelta64(day, "D"), 0, granule, clear)


def test_ranking_prefers_patch_clearness_over_granule_cloud():
    scenes = [scene(0, 2.0, 0.91), scene(1, 15.0, 0.99), scene(2, 1.0, None), scene(3, 35.0, 1.0)]
    ranked = rank_scenes(scenes, ChoiceRules(granule_cloud_max=20.0))
    assert [s.id for s in ranked] == ["s1", "s0", "s2"]  # s3 dropped by the granule pre-filter


def test_ties_break_on_granule_then_time():
    scenes = [scene(0, 5.0, 0.95, day=10), scene(1, 3.0, 0.95, day=20), scene(2, 3.0, 0.95, day=5)]
    assert [s.id for s in rank_scenes(scenes, ChoiceRules())] == ["s2", "s1", "s0"]


def test_rank_windows_rejections():
    rules = ChoiceRules(clear_threshold=0.9, granule_cloud_max=20.0)
    with pytest.raises(Rejected, match="season 1: no scene in the window"):
        rank_windows([[scene(0, 1, 0.99)], []], rules)
    with pytest.raises(Rejected, match="season 0: all 2 scenes above 20% granule cloud"):
        rank_windows([[scene(0, 30, 1.0), scene(1, 50, 1.0)]], rules)
    with pytest.raises(Rejected, match="season 0: best patch clear fraction 0.85 < 0.90"):
        rank_windows([[scene(0, 1, 0.85), scene(1, 2, 0.7)]], rules)
    ranked = rank_windows([[scene(0, 1, 0.95), scene(1, 2, 0.5), scene(2, 3, None)]], rules)
    assert [s.id for s in ranked[0]] == ["s0", "s2"]  # a known-cloudy scene is never a fallback
