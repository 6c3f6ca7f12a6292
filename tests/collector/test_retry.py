import random

import pytest

from collector.sources.base import PermanentError, TransientError
from collector.sources.retry import Counters, RetriesExhausted, RetryPolicy, call_with_retries


def flaky(failures, exc=TransientError):
    state = {"n": 0}

    def fn(attempt):
        state["n"] += 1
        if state["n"] <= failures:
            raise exc(f"fail {state['n']}")
        return attempt

    return fn


def test_retries_then_succeeds_with_growing_backoff():
    waits = []
    counters = Counters()
    got = call_with_retries(
        flaky(3), RetryPolicy(6, 1.0, 60.0), counters, random.Random(0), waits.append
    )
    assert got == 3 and counters.requests == 4 and counters.retries == 3 and counters.transient == 3
    assert len(waits) == 3 and all(0 <= w <= 2**i for i, w in enumerate(waits))


def test_cap_on_backoff():
    policy = RetryPolicy(10, 1.0, 5.0)
    rng = random.Random(1)
    assert max(policy.delay(9, rng) for _ in range(200)) <= 5.0


def test_exhausted_and_permanent():
    counters = Counters()
    with pytest.raises(RetriesExhausted, match="after 3 attempts"):
        call_with_retries(
            flaky(10), RetryPolicy(3, 0, 0), counters, random.Random(0), lambda s: None
        )
    assert counters.exhausted == 1 and counters.requests == 3
    with pytest.raises(PermanentError):
        call_with_retries(
            flaky(1, PermanentError),
            RetryPolicy(5, 0, 0),
            counters,
            random.Random(0),
            lambda s: None,
        )
    assert counters.permanent == 1 and counters.requests == 4  # not retried


def test_policy_validation():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
