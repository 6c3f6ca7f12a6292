"""What a STAC API or token-service failure means for the collection: retry later, give the
candidate up, or stop because the service cannot be reached at all.

Failures of COG reads are classified where they are read (:class:`StacSource`'s reads in
:mod:`collector.sources.stac.source`); this module types the errors of pystac-client and
requests (item searches, SAS token requests).
"""

from __future__ import annotations

from collector.sources.base import (
    PermanentError,
    TransientError,
    UnreachableError,
    unreachable_kind,
)
from collector.sources.stac.read import strip_query

__all__ = ["classify_api_error"]


def classify_api_error(
    error: BaseException, what: str = "the STAC API"
) -> TransientError | PermanentError:
    """A STAC API or token-service failure (pystac-client, requests) as the protocol's typed
    error.

    HTTP 429, 408 and 5xx, timeouts, connection failures and urllib3's "Max retries exceeded"
    (``requests.RetryError`` after repeated 5xx) are transient; other statuses (400 bad
    query, 403 refused token, 404 unknown collection …) and malformed answers are permanent.
    """
    status = getattr(error, "status_code", None)
    if status is None:  # requests.HTTPError carries its response
        status = getattr(getattr(error, "response", None), "status_code", None)
    text = strip_query(f"{type(error).__name__}: {error}")
    if len(text) > 500:
        text = text[:500] + " …"
    kind = unreachable_kind(error)
    if kind is not None:  # before the generic "connection" rule: not worth many retries
        return UnreachableError(f"{what} cannot be reached: {kind} ({text})")
    if isinstance(status, int):
        text = f"HTTP {status} from {what}: {text}"
        if status in (408, 425, 429) or 500 <= status < 600:
            return TransientError(text)
        return PermanentError(text)
    low = text.lower()
    network = ("timed out", "timeout", "connection", "max retries exceeded", "temporarily")
    if isinstance(error, (ConnectionError, TimeoutError)) or any(w in low for w in network):
        return TransientError(text)
    return PermanentError(text)
