"""Errors raised by the store contract; each message says what is wrong and what to do."""

from __future__ import annotations

__all__ = [
    "StoreError",
    "NotAStoreError",
    "StoreExistsError",
    "LayoutVersionError",
    "StoreMismatchError",
    "ShardShapeError",
    "StoreUnreachableError",
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


class StoreUnreachableError(StoreError, OSError):
    """The object store holding a store did not answer (endpoint, network, credentials)."""
