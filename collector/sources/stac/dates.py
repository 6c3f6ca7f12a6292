"""Times between the season windows (numpy datetimes) and STAC: the search's datetime interval
and an item's acquisition time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from collector.sources.base import PermanentError

__all__ = ["epoch_ms", "iso_time", "item_time"]


def epoch_ms(day: np.datetime64) -> int:
    """``day`` in milliseconds since 1970."""
    return int(np.asarray(day).astype("datetime64[ms]").astype(np.int64))


def iso_time(ms: int) -> str:
    """Milliseconds since 1970 as a STAC (RFC 3339, UTC) datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def item_time(item: Mapping[str, Any]) -> np.datetime64:
    """A STAC item's ``datetime`` (UTC, ms), or a :class:`PermanentError` when it has none."""
    text = item.get("properties", {}).get("datetime")
    if not text:
        raise PermanentError(f"STAC item {item.get('id')!r} has no datetime")
    when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(when, "ms")
