import numpy as np

from collector.run.choose import ChoiceRules
from collector.run.fill import Candidate, collect_location, fill_shard
from collector.sources.retry import RetryPolicy
from shared.layout.spec import StoreSpec
from tests.collector.fakes import SIZE, ScriptedSource, location

RULES = ChoiceRules(clear_threshold=0.9, granule_cloud_max=20.0)
FAST = RetryPolicy(max_attempts=4, base_s=0.0, cap_s=0.0)
GOOD = [[(5.0, 0.97), (2.0, 0.92)], [(1.0, 1.0)]]


def no_sleep(_s):
    return None


def test_least_cloudy_scene_per_season_is_fetched():
    src = ScriptedSource({1: GOOD})
    res = collect_location(src, location(1), RULES, FAST, sleep=no_sleep)
    assert res.reason is None
    assert [s.id for s in res.patch.scenes] == ["S1_0_0", "S1_1_0"]  # 0.97 beats 0.92
    np.testing.assert_allclose(res.clear, [0.97, 1.0], atol=1 / SIZE**2)
    assert src.calls == [("search", 1), ("fetch", 1)]  # two requests on the normal path


def test_refetch_next_scene_when_the_fetched_patch_is_cloudier_than_reported():
    src = ScriptedSource({2: [[(1.0, 0.5), (2.0, 0.95)], [(1.0, 1.0)]]}, report_clear=False)
    res = collect_location(src, location(2), RULES, FAST, sleep=no_sleep)
    assert res.reason is None and res.patch.scenes[0].id == "S2_0_1"
    assert res.patch.pixels[0, 0, 0, 0] == 2 * 100 + 0 + 1 + 1  # season 0, scene 1
    assert src.calls == [("search", 2), ("fetch", 2), ("fetch", 2)]


def test_rejections_and_failures_carry_reasons():
    src = ScriptedSource({3: [[(1.0, 0.6)], [(1.0, 1.0)]], 4: GOOD}, permanent={4})
    r3 = collect_location(src, location(3), RULES, FAST, sleep=no_sleep)
    assert (
        r3.patch is None and "best patch clear fraction 0.60 < 0.90" in r3.reason and not r3.failed
    )
    r4 = collect_location(src, location(4), RULES, FAST, sleep=no_sleep)
    assert r4.failed and "source error" in r4.reason


def test_transient_errors_are_retried_and_counted():
    src = ScriptedSource({5: GOOD}, transient={("search", 5): 2, ("fetch", 5): 1})
    res = collect_location(src, location(5), RULES, FAST, sleep=no_sleep)
    assert res.reason is None
    assert res.counters.requests == 5 and res.counters.retries == 3


def test_fill_shard_replaces_rejected_slots_with_spares_in_order():
    spec = StoreSpec(n_samples=4, n_seasons=2, bands=("B4", "B3"), size=SIZE, shard_samples=4)
    cloudy = [[(1.0, 0.3)], [(1.0, 1.0)]]
    clear = {0: GOOD, 1: cloudy, 2: GOOD, 3: cloudy, 10: cloudy, 11: GOOD, 12: GOOD}
    cands = [Candidate(location(i), i, 0) for i in range(4)]
    cands += [Candidate(location(10 + j), -1, j + 1) for j in range(3)]
    out = fill_shard(
        ScriptedSource(clear), spec, 0, cands, RULES, FAST, concurrency=3, sleep=no_sleep
    )
    # slot 1 fails → spare 10 (cloudy) → spare 12; slot 3 fails → spare 11
    assert out.data.candidate_id.tolist() == [0, 12, 2, 11]
    assert out.data.valid.all()
    report = out.report(0)
    assert report.filled == 4 and report.tried == 7
    assert sorted(r["candidate_id"] for r in report.rejected) == [1, 3, 10]


def test_fill_shard_leaves_a_slot_empty_when_spares_run_out():
    spec = StoreSpec(n_samples=2, n_seasons=2, bands=("B4", "B3"), size=SIZE, shard_samples=2)
    cloudy = [[(1.0, 0.1)], [(1.0, 1.0)]]
    cands = [
        Candidate(location(0), 0, 0),
        Candidate(location(1), 1, 0),
        Candidate(location(9), -1, 1),
    ]
    out = fill_shard(
        ScriptedSource({0: GOOD, 1: cloudy, 9: cloudy}), spec, 0, cands, RULES, FAST, sleep=no_sleep
    )
    assert out.data.valid.tolist() == [True, False]
    assert out.data.candidate_id.tolist() == [0, -1]
