"""The fault-injection wrapper: rates, determinism, latency, counters, retries, pickling."""

from __future__ import annotations

import pickle
import time
from collections.abc import Sequence

import numpy as np
import pytest

from collector.sources import base
from collector.sources.faults import FaultySource


class EchoSource:
    """A minimal source that records what reached it."""

    name = "echo"
    synthetic = True
    collection = "L2A"
    bands = ("B4",)

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def search(self, location: base.Location) -> list[list[base.Scene]]:
        self.seen.append(("search", location.candidate_id))
        return [[]]

    def fetch(self, location: base.Location, scenes: Sequence[base.Scene]) -> base.Patch:
        self.seen.append(("fetch", location.candidate_id))
        return base.Patch(
            np.ones((1, 1, 2, 2), np.uint16), np.zeros((1, 2, 2), np.uint8), tuple(scenes)
        )


def loc(candidate_id: int) -> base.Location:
    return base.Location(candidate_id, 0.0, 0.0, 32631, (10.0, 0.0, 0.0, 0.0, -10.0, 0.0), 2, ())


def outcome(source: FaultySource, kind: str, candidate_id: int) -> str:
    try:
        if kind == "search":
            source.search(loc(candidate_id))
        else:
            source.fetch(loc(candidate_id), [])
    except base.TransientError:
        return "transient"
    except base.PermanentError:
        return "permanent"
    return "ok"


def test_rates_are_honoured_and_counted():
    src = FaultySource(EchoSource(), transient_rate=0.3, permanent_rate=0.1, seed=1)
    results = [outcome(src, "search", i) for i in range(3000)]
    share = {k: results.count(k) / len(results) for k in ("ok", "transient", "permanent")}
    assert abs(share["permanent"] - 0.1) < 0.02
    # transient draws happen only for calls that are not permanently failing
    assert abs(share["transient"] - 0.9 * 0.3) < 0.03
    counts = src.counts()
    assert counts.calls == 3000
    assert counts.transient == results.count("transient")
    assert counts.permanent == results.count("permanent")
    assert counts.passed == results.count("ok") == len(src.inner.seen)


def test_decisions_are_deterministic_and_seeded():
    def run(seed: int) -> list[str]:
        s = FaultySource(EchoSource(), transient_rate=0.4, permanent_rate=0.2, seed=seed)
        return [outcome(s, kind, i) for i in range(200) for kind in ("search", "fetch")]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_transient_faults_clear_on_retry_permanent_ones_do_not():
    src = FaultySource(EchoSource(), transient_rate=0.5, permanent_rate=0.2, seed=2)
    for cid in range(200):
        tries = [outcome(src, "fetch", cid) for _ in range(30)]
        if src.fails_permanently("fetch", cid):
            assert set(tries) == {"permanent"}
        else:
            assert "ok" in tries and "permanent" not in tries
        assert src.attempts("fetch", cid) == 30


def test_fail_first_and_listed_candidates():
    src = FaultySource(EchoSource(), fail_first=2, permanent_ids=[7])
    assert [outcome(src, "search", 1) for _ in range(4)] == ["transient"] * 2 + ["ok"] * 2
    assert [outcome(src, "fetch", 7) for _ in range(3)] == ["permanent"] * 3
    assert outcome(src, "search", -3) == "transient"  # negative ids are fine


def test_only_the_chosen_kinds_fault():
    src = FaultySource(EchoSource(), transient_rate=1.0, kinds=("fetch",))
    assert outcome(src, "search", 1) == "ok"
    assert outcome(src, "fetch", 1) == "transient"
    assert src.counts().calls == 1


def test_latency_is_applied_to_every_call():
    src = FaultySource(EchoSource(), latency_s=0.02, jitter=0.5, transient_rate=0.5, seed=3)
    start = time.perf_counter()
    for i in range(10):
        outcome(src, "search", i)
    assert time.perf_counter() - start >= 10 * 0.02 * 0.5


def test_protocol_pickling_and_errors():
    src = FaultySource(EchoSource(), transient_rate=0.5, seed=4)
    assert isinstance(src, base.Source) and src.name == "echo" and src.bands == ("B4",)
    for i in range(10):
        outcome(src, "search", i)
    copy = pickle.loads(pickle.dumps(src))
    assert copy.counts() == src.counts()
    assert [outcome(copy, "search", i) for i in range(10)] == [
        outcome(src, "search", i) for i in range(10)
    ]
    assert issubclass(base.TransientError, base.SourceError)
    for kwargs in ({"transient_rate": 1.5}, {"latency_s": -1}, {"kinds": ("pixels",)}):
        with pytest.raises(ValueError):
            FaultySource(EchoSource(), **kwargs)
