"""Errors raised by the store contract; each message says what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "StoreError",
    "NotAStoreError",
    "StoreExistsError",
    "LayoutVersionError",
    "StoreMismatchError",
    "ShardShapeError",
    "OutsideFileError",
    "TooLargeError",
    "AttributeTypeError",
    "StoreUnreachableError",
    "format_ranges",
]


class StoreError(Exception):
    """Base class of all store errors."""


class NotAStoreError(StoreError, FileNotFoundError):
    """The path is not a SeCo store (missing, not Zarr, or without the layout attributes)."""


class StoreExistsError(StoreError, FileExistsError):
    """Something already lives where a new store was to be created."""


class LayoutVersionError(StoreError):
    """The store was written with a layout version this software does not read."""


class StoreMismatchError(StoreError, ValueError):
    """An existing store was made with another configuration than the one requested."""


class ShardShapeError(StoreError, ValueError):
    """Data handed to a shard write does not fit the shard."""


class OutsideFileError(ValueError):
    """A file or value from outside (a published dataset, weights, a store attribute) is not
    what its reader expects; the one-line message names where and what."""

    def __init__(self, where: str, problem: str | None = None) -> None:
        super().__init__(where if problem is None else f"{where}: {problem}")
        self.where = where if problem is not None else ""
        self.problem = problem if problem is not None else where


class TooLargeError(OutsideFileError):
    """An outside file declares a size (pixels, bytes, items) beyond the reader's budget."""


class AttributeTypeError(OutsideFileError, StoreError):
    """A store attribute (``stats``, ``config``, ``recipe``, ``imported_from`` …) has the wrong
    type or shape."""


class StoreUnreachableError(StoreError, OSError):
    """The object store holding a store did not answer (endpoint, network, credentials)."""


def format_ranges(indices: Iterable[int], limit: int = 20) -> str:
    """``[1, 2, 3, 7]`` → ``"1-3, 7"`` (at most ``limit`` ranges, then a count)."""
    idx = sorted(int(i) for i in indices)
    parts: list[str] = []
    i = 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
            j += 1
        parts.append(str(idx[i]) if i == j else f"{idx[i]}-{idx[j]}")
        i = j + 1
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f", … ({len(parts) - limit} more ranges)"
    return ", ".join(parts)
