"""What an Earth Engine failure means for the collection: retry later, or give the candidate up.

earthengine-api raises :class:`ee.EEException` carrying the server's message only, never the
HTTP status (``_translate_cloud_exception`` keeps ``HttpError._get_reason()``), so errors are
classified by message. The messages below are the ones the real client produces; the test
suite makes each of them through the real client over a local HTTP server.

Retried (:class:`TransientError`), with the reason:

- ``The service is currently unavailable.`` (JSON 503 ``UNAVAILABLE``): the server is
  overloaded or restarting;
- ``An internal server error has occurred (…)`` / ``An internal error has occurred`` (JSON
  500 ``INTERNAL``): a backend failed; the same request usually succeeds later;
- ``Deadline expired before operation could complete.`` (504): a server-side timeout;
- ``Ok``, the whole message: an error answer without a JSON body, i.e. the HTML page of
  Google's front end for a 502/503/504 (``HttpError._get_reason`` falls back on
  ``httplib2.Response.reason``, which is ``"Ok"`` for every response the client builds);
- ``Too many concurrent aggregations.``, ``Too Many Requests``, ``Quota exceeded … per
  minute`` (429): the project's quota (40 requests in flight, 100/s), cleared by waiting;
- ``Computation timed out.`` (400): a busy cluster; the same computation fits later;
- builtin ``TimeoutError`` (the request passed ``ee.data.setDeadline``), ``ConnectionError``
  and ``google.auth`` transport errors during a token refresh: the network.

Given up (:class:`PermanentError`, the candidate is replaced), with the reason:

- ``User memory limit exceeded.``, ``Earth Engine memory capacity exceeded.``: the same
  request needs the same memory;
- ``Total request size (…) must be less than or equal to 50331648 bytes``: too large;
- ``… not found`` / ``does not exist``, permission errors, ``invalid`` arguments: the request
  or the account is wrong, retrying changes nothing;
- anything else, so that no candidate loops for ever.

The client's own retries are switched off (``ee.data.setMaxRetries(0)``): every retry is the
engine's (:mod:`collector.sources.retry`, exponential backoff with jitter, ``--max-attempts``), so a
request is sent at most ``max_attempts`` times, not ``6 × max_attempts``.
"""

from __future__ import annotations

from collector.sources.base import (
    PermanentError,
    TransientError,
    UnreachableError,
    unreachable_kind,
)

__all__ = ["classify_error", "TRANSIENT_MESSAGES", "PERMANENT_MESSAGES"]

#: Lower-case fragments of messages worth retrying (see the module docstring).
TRANSIENT_MESSAGES = (
    "service is currently unavailable",
    "internal server error",
    "internal error has occurred",
    "deadline expired",
    "too many concurrent aggregations",
    "too many requests",
    "quota exceeded",
    "rate limit",
    "computation timed out",
    "backend error",
    "connection reset",
    "connection aborted",
    "timed out",
)
#: Lower-case fragments of messages that an identical retry cannot fix. Checked first.
PERMANENT_MESSAGES = (
    "user memory limit exceeded",
    "memory capacity exceeded",
    "must be less than or equal to",
    "request payload size exceeds",
    "not found",
    "does not exist",
    "permission",
    "invalid",
    "bad request",
)
#: The whole message of an error answer without a JSON body (``httplib2.Response.reason``).
BARE_REASON = "ok"


def classify_error(error: BaseException) -> TransientError | PermanentError:
    """An Earth Engine failure as the protocol's typed error, keeping its message.

    ``error`` is what earthengine-api raised: ``ee.EEException`` (by message, see the module
    table), a builtin ``TimeoutError``/``ConnectionError`` from its HTTP layer, a
    ``googleapiclient`` ``HttpError`` (by status: only while fetching the discovery document)
    or a ``google.auth`` error during a token refresh.
    """
    text = f"{type(error).__name__}: {error}"
    kind = unreachable_kind(error)
    if kind is not None:  # name resolution, refused connection: a few tries, then stop
        return UnreachableError(f"Earth Engine cannot be reached: {kind} ({text})")
    if isinstance(error, (ConnectionError, TimeoutError)):
        return TransientError(text)
    status = getattr(getattr(error, "resp", None), "status", None)
    if isinstance(status, int):  # googleapiclient.errors.HttpError (discovery)
        transient = status in (408, 429) or status >= 500
        return (TransientError if transient else PermanentError)(f"HTTP {status}: {text}")
    module = type(error).__module__
    if module.startswith("google.auth"):
        retryable = getattr(error, "retryable", False) or type(error).__name__ == "TransportError"
        return (TransientError if retryable else PermanentError)(text)
    low = str(error).strip().lower()
    if low == BARE_REASON:
        return TransientError(f"{text} (an error page without a JSON body: HTTP 5xx)")
    if any(p in low for p in PERMANENT_MESSAGES) and "quota" not in low:
        return PermanentError(text)
    if any(p in low for p in TRANSIENT_MESSAGES):
        return TransientError(text)
    return PermanentError(text)
