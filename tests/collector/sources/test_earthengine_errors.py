"""Earth Engine failures as the real client raises them: each answer is served over HTTP by the
local endpoint, translated by earthengine-api itself, then classified by the source."""

from __future__ import annotations

import pytest

from collector.run.choose import ChoiceRules
from collector.run.fill import collect_location
from collector.sources.base import PermanentError, TransientError
from collector.sources.earthengine.errors import classify_error
from collector.sources.earthengine.server import HTML_502, Fault, json_error
from collector.sources.earthengine.source import EarthEngineSource
from collector.sources.retry import RetryPolicy
from tests.collector.sources.test_earthengine import nice_location

HTML = "text/html; charset=UTF-8"


def source(server, deadline_s: float = 5.0) -> EarthEngineSource:
    return EarthEngineSource("L1C", bands=("B4",), url=server.url, deadline_s=deadline_s)


def answer(code: int, message: str, status: str, kind: type, raised: str | None = None) -> tuple:
    """A JSON error answer of the endpoint, the message the client raises (``message`` unless
    ``raised`` names a part of it) and the class the source must give it."""
    return Fault(code, json_error(code, message, status)), raised or message, kind


T, P = TransientError, PermanentError
QUOTA = (
    "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service "
    "'earthengine.googleapis.com' for consumer 'project_number:12345'."
)
SIZE = "Total request size (52428800 bytes) must be less than or equal to 50331648 bytes."
ASSET = (
    "Image.load: Image asset 'COPERNICUS/S2_HARMONIZED/XYZ' not found (does not exist or "
    "caller does not have access)."
)
DENIED = "Caller does not have required permission to use project test-project."
#: (the server's answer, the message the client raises, the class)
ANSWERS = [
    answer(503, "The service is currently unavailable.", "UNAVAILABLE", T),
    answer(500, "An internal server error has occurred (a1b2c3).", "INTERNAL", T),
    answer(500, "An internal error has occurred", "INTERNAL", T),
    answer(504, "Deadline expired before operation could complete.", "DEADLINE_EXCEEDED", T),
    (Fault(502, HTML_502, HTML), "Ok", TransientError),
    (Fault(503, b"<html><body>Service Unavailable</body></html>", HTML), "Ok", TransientError),
    answer(429, "Too many concurrent aggregations.", "RESOURCE_EXHAUSTED", T),
    answer(429, QUOTA, "RESOURCE_EXHAUSTED", T, "Quota exceeded for quota metric"),
    answer(400, "Computation timed out.", "INVALID_ARGUMENT", T),
    answer(400, "User memory limit exceeded.", "INVALID_ARGUMENT", P),
    answer(400, "Earth Engine memory capacity exceeded.", "RESOURCE_EXHAUSTED", P),
    answer(400, SIZE, "INVALID_ARGUMENT", P, "must be less than or equal to 50331648 bytes"),
    answer(400, ASSET, "INVALID_ARGUMENT", P, "Image.load: Image asset"),
    answer(403, DENIED, "PERMISSION_DENIED", P, "Caller does not have required permission"),
]


def test_real_client_messages_are_classified(fake_ee):
    """One session for all answers (initialising ``ee`` costs about a second)."""
    src = source(fake_ee)
    src.api.initialize()
    for fault, message, kind in ANSWERS:
        fake_ee.log.clear()
        fake_ee.faults.append(fault)
        with pytest.raises((TransientError, PermanentError)) as info:
            src.search(nice_location(1))
        cause = info.value.__cause__
        assert type(info.value) is kind, (fault.status, message)
        assert type(cause).__name__ == "EEException" and message in str(cause)
        assert message != "Ok" or str(cause) == "Ok"  # the bare reason, nothing else
        assert len(fake_ee.api_calls()) == 1  # the client's own retries are off


def test_a_failing_call_is_sent_max_attempts_times_not_six_times_that(fake_ee):
    src = source(fake_ee)
    unavailable = json_error(503, "The service is currently unavailable.", "UNAVAILABLE")
    fake_ee.faults[:] = [Fault(503, unavailable), Fault(502, HTML_502, HTML)]
    rules, policy = ChoiceRules(0.9, 20.0), RetryPolicy(4, 0.0, 0.0)
    res = collect_location(src, nice_location(1), rules, policy, sleep=lambda s: None)
    assert res.reason is None
    assert [c.status for c in fake_ee.api_calls()] == [503, 502, 200, 200]
    assert res.counters.requests == 4 and res.counters.retries == 2
    fake_ee.log.clear()
    fake_ee.faults[:] = [Fault(503, unavailable)] * 10
    res = collect_location(
        src, nice_location(1), rules, RetryPolicy(3, 0.0, 0.0), sleep=lambda s: None
    )
    assert res.failed and "still failing after 3 attempts" in res.reason
    assert len(fake_ee.api_calls()) == 3  # 3 HTTP requests, not 3 × 6


def test_a_stalled_request_hits_the_deadline_and_is_retried(fake_ee):
    src = source(fake_ee, deadline_s=0.5)
    fake_ee.faults.append(Fault(stall=True))
    rules, policy = ChoiceRules(0.9, 20.0), RetryPolicy(3, 0.0, 0.0)
    res = collect_location(src, nice_location(1), rules, policy, sleep=lambda s: None)
    assert res.reason is None and res.counters.retries == 1 and res.counters.transient == 1
    assert len(fake_ee.api_calls()) == 3  # the stalled one, then search and fetch


def test_a_stalled_request_raises_a_transient_timeout(fake_ee):
    src = source(fake_ee, deadline_s=0.3)
    src.api.initialize()
    fake_ee.faults.append(Fault(stall=True))
    with pytest.raises(TransientError, match="TimeoutError") as info:
        src.search(nice_location(1))
    assert isinstance(info.value.__cause__, TimeoutError)


def test_an_expired_token_is_refreshed_by_the_client(fake_ee):
    src = source(fake_ee)
    src.search(nice_location(1))
    issued = fake_ee.tokens_issued
    fake_ee.revoke_tokens()  # as when the hour is up
    found = src.search(nice_location(1))
    assert found[0]
    calls = fake_ee.api_calls()
    assert [c.status for c in calls] == [200, 401, 200]
    assert fake_ee.tokens_issued == issued + 1
    assert calls[-1].authorization == f"Bearer tok-{issued + 1}"


def test_errors_outside_the_ee_translation():
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError
    from httplib2 import Response

    assert isinstance(classify_error(ConnectionError("reset by peer")), TransientError)
    assert isinstance(classify_error(TimeoutError("read timed out")), TransientError)
    assert isinstance(classify_error(TransportError("token endpoint down")), TransientError)
    refused = RefreshError("invalid_grant: account disabled")
    assert isinstance(classify_error(refused), PermanentError)
    discovery = HttpError(Response({"status": 503}), b"", uri="http://x/$discovery/rest")
    assert isinstance(classify_error(discovery), TransientError)
    missing = HttpError(Response({"status": 404}), b"", uri="http://x/$discovery/rest")
    assert isinstance(classify_error(missing), PermanentError)
