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


def test_an_unreachable_service_is_tried_twice_then_propagates():
    from collector.sources.base import UnreachableError
    from collector.sources.retry import UNREACHABLE_ATTEMPTS

    waits: list[float] = []
    counters = Counters()
    with pytest.raises(UnreachableError):
        call_with_retries(
            flaky(99, UnreachableError),
            RetryPolicy(6, 8.0),
            counters,
            random.Random(0),
            waits.append,
        )
    assert counters.requests == UNREACHABLE_ATTEMPTS == 2
    assert len(waits) == 1 and waits[0] <= 1.0  # no long backoff for a name that won't resolve


def test_unreachable_kind_tells_network_failures_apart():
    import socket

    from collector.sources.base import unreachable_kind

    dns = "its host name does not resolve"
    assert unreachable_kind(socket.gaierror(-2, "Name or service not known")) == dns
    assert unreachable_kind(ConnectionRefusedError(111, "Connection refused")) == (
        "the connection was refused"
    )
    wrapped = OSError("HTTPSConnectionPool(host='x', port=443): Max retries exceeded")
    wrapped.__cause__ = socket.gaierror(-3, "Temporary failure in name resolution")
    assert unreachable_kind(wrapped) == dns
    assert unreachable_kind("CPLE_HttpResponse: Could not resolve host: x.invalid") == dns
    # these keep the retry policy
    assert unreachable_kind(TimeoutError("timed out")) is None
    assert unreachable_kind(ConnectionResetError(104, "Connection reset by peer")) is None
    assert unreachable_kind("HTTP 503 from the STAC API") is None


def test_stac_and_earth_engine_classify_a_refused_connection_as_unreachable():
    import requests

    from collector.sources.base import UnreachableError
    from collector.sources.earthengine.errors import classify_error
    from collector.sources.stac.errors import classify_api_error

    try:
        requests.get("http://127.0.0.1:9/", timeout=5)  # the discard port: nothing listens
    except requests.RequestException as e:
        assert isinstance(classify_api_error(e), UnreachableError)
    assert isinstance(classify_error(ConnectionRefusedError(111, "refused")), UnreachableError)
    assert not isinstance(classify_error(TimeoutError("deadline")), UnreachableError)
