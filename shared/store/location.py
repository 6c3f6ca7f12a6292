"""Where a store lives: a local folder or an fsspec URL (``s3://``, ``gs://``, ``memory://``).

Also the byte-level access the fast reader uses: positional reads of local files, or ranged
``get`` requests through the Zarr store for object storage.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import suppress
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

from zarr.abc.store import RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import FsspecStore, LocalStore

__all__ = [
    "is_url",
    "local_path",
    "zarr_store",
    "ByteSource",
    "LocalBytes",
    "StoreBytes",
    "byte_source",
    "put_bytes",
    "get_bytes",
    "list_prefix",
]


def is_url(location: str | os.PathLike[str]) -> bool:
    """True for ``scheme://…`` locations other than ``file://``."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | os.PathLike[str]) -> Path:
    """The filesystem path of a local location (``file://`` prefix allowed)."""
    text = str(location)
    return Path(text[len("file://") :] if text.startswith("file://") else text)


def zarr_store(
    location: str | os.PathLike[str],
    read_only: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> Store:
    """A Zarr store object for a path or URL."""
    if is_url(location):
        return FsspecStore.from_url(
            str(location), read_only=read_only, storage_options=storage_options or {}
        )
    return LocalStore(local_path(location), read_only=read_only)


class ByteSource(Protocol):
    """Reads byte ranges of the objects (files) inside a store."""

    def read(self, key: str, offset: int, length: int) -> bytes | None:
        """``length`` bytes at ``offset`` of object ``key``; ``None`` when the object is absent."""

    def read_suffix(self, key: str, length: int) -> bytes | None:
        """The last ``length`` bytes of ``key``; ``None`` when the object is absent."""


class LocalBytes:
    """Positional reads (``os.pread``) of files under a local store root.

    Open files are kept (least recently used first out, at most ``max_open``), so reading many
    small ranges of the same shard costs one ``open``. Like the reader's shard-index cache,
    this assumes shards are not replaced while being read.
    """

    def __init__(self, root: str | os.PathLike[str], max_open: int = 128) -> None:
        self.root = local_path(root)
        self._fds: OrderedDict[str, int] = OrderedDict()
        self._max_open = max_open
        self._lock = Lock()

    def _open(self, key: str) -> int | None:
        with self._lock:
            fd = self._fds.get(key)
            if fd is not None:
                self._fds.move_to_end(key)
                return fd
        try:
            fd = os.open(os.path.join(self.root, key), os.O_RDONLY)
        except FileNotFoundError:
            return None
        with self._lock:
            if key in self._fds:  # another thread opened it meanwhile
                os.close(fd)
                return self._fds[key]
            self._fds[key] = fd
            while len(self._fds) > self._max_open:
                os.close(self._fds.popitem(last=False)[1])
        return fd

    def read(self, key: str, offset: int, length: int) -> bytes | None:
        fd = self._open(key)
        return None if fd is None else os.pread(fd, length, offset)

    def read_suffix(self, key: str, length: int) -> bytes | None:
        fd = self._open(key)
        if fd is None:
            return None
        size = os.fstat(fd).st_size
        return os.pread(fd, min(length, size), max(size - length, 0))

    def close(self) -> None:
        """Close every file kept open."""
        with self._lock:
            while self._fds:
                os.close(self._fds.popitem()[1])

    def __del__(self) -> None:
        with suppress(Exception):  # at interpreter shutdown there is nothing left to clean up
            self.close()


class StoreBytes:
    """Ranged reads through any Zarr store (object storage, memory)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._proto = default_buffer_prototype()

    def read(self, key: str, offset: int, length: int) -> bytes | None:
        buf = sync(
            self.store.get(key, self._proto, byte_range=RangeByteRequest(offset, offset + length))
        )
        return None if buf is None else buf.to_bytes()

    def read_suffix(self, key: str, length: int) -> bytes | None:
        buf = sync(self.store.get(key, self._proto, byte_range=SuffixByteRequest(length)))
        return None if buf is None else buf.to_bytes()


def byte_source(location: str | os.PathLike[str], store: Store) -> ByteSource:
    """The fastest byte access for a location: direct file reads when local."""
    if not is_url(location):
        return LocalBytes(location)
    return StoreBytes(store)


def put_bytes(store: Store, key: str, data: bytes) -> None:
    """Write a side file (``plan.parquet``, ``map.png``, …) into the store's folder or prefix."""
    from zarr.core.buffer import cpu

    sync(store.set(key, cpu.Buffer.from_bytes(data)))


def get_bytes(store: Store, key: str) -> bytes | None:
    """Read a side file of the store, or ``None`` when it is absent."""
    buf = sync(store.get(key, default_buffer_prototype()))
    return None if buf is None else buf.to_bytes()


def list_prefix(store: Store, prefix: str) -> list[str]:
    """Keys under ``prefix`` (e.g. ``"reports/"``), sorted."""

    async def collect() -> list[str]:
        return [k async for k in store.list_prefix(prefix)]

    return sorted(sync(collect()))
