"""What an Earth Engine failure means for the collection: retry later, or give the candidate up.

earthengine-api raises :class:`ee.EEException` carrying the server's message only, never the
HTTP status (``_translate_cloud_exception`` keeps ``HttpError._get_reason()``), so errors are
classified by message. The messages below are the ones the real client produces; the test
suite makes each of them through the real client over a local HTTP server.

==========================================================  ======  ============================
message (as raised)                                          class   why
==========================================================  ======  ============================
``The service is currently unavailable.`` (JSON 503)         retry   server overloaded/restarting
``An internal server error has occurred (…)`` /               retry   a backend failed; the same
``An internal error has occurred`` (JSON 500)                         request usually succeeds
``Deadline expired before operation could complete.`` (504)  retry   server-side timeout
``Ok`` (an HTML 502/503/504 page: no JSON ``error``)         retry   the front end answered, not
                                                                     Earth Engine; bounded
``Too many concurrent aggregations.`` / ``Too Many           retry   quota: 40 in flight, 100/s
Requests`` / ``Quota exceeded … per minute`` (429)                   per project
``Computation timed out.`` (400)                             retry   a busy cluster; succeeds
                                                                     on a later try
``User memory limit exceeded.``                              give up the same request needs the
                                                                     same memory
``Earth Engine memory capacity exceeded.``                   give up as above
``Total request size (…) must be less than or equal to``     give up the request is too large
``… not found`` / ``does not exist`` / permission / invalid   give up missing asset, access, bad
                                                                     request
builtin ``TimeoutError`` (the request deadline passed)        retry   a stalled connection
builtin ``ConnectionError``, ``google.auth`` TransportError   retry   network
anything else                                                 give up so that nothing loops
==========================================================  ======  ============================

The client's own retries are switched off (``ee.data.setMaxRetries(0)``): every retry is the
engine's (:mod:`collector.retry`, exponential backoff with jitter, ``--max-attempts``), so a
request is sent at most ``max_attempts`` times, not ``6 × max_attempts``.
"""

from __future__ import annotations

from collector.sources.base import PermanentError, TransientError

__all__ = ["classify_error", "TRANSIENT_MESSAGES", "PERMANENT_MESSAGES"]

#: Lower-case fragments of messages worth retrying (see the module table).
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
