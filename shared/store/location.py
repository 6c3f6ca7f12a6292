"""Where a store lives: a local folder or an fsspec URL (``s3://``, ``gs://``, ``memory://``).

The one place that understands a location: :func:`absolute_location` (a local path made
absolute, so that it means the same folder on a remote Dask worker), :func:`zarr_store` (the
Zarr store object, with the storage options: endpoint, credentials, …) and
:func:`check_reachable` (one cheap request; an unreachable endpoint, missing credentials or an
absent bucket become one :class:`~shared.errors.StoreUnreachableError` line).

Storage options are fsspec's for the URL's scheme (``s3fs.S3FileSystem``'s for ``s3://``:
``key``, ``secret``, ``client_kwargs.endpoint_url``, …); without them the client's own
environment variables apply (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``AWS_REGION`` for S3;
``GOOGLE_APPLICATION_CREDENTIALS`` for ``gs://``). They are runtime settings: never stored,
never printed.

Also the byte-level access the fast reader uses: positional reads of local files, or ranged
``get`` requests through the Zarr store for object storage, many in flight at once
(:meth:`ByteSource.read_many`).
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Sequence
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
    "absolute_location",
    "zarr_store",
    "check_reachable",
    "ByteRange",
    "DEFAULT_IN_FLIGHT",
    "ByteSource",
    "read_many",
    "LocalBytes",
    "StoreBytes",
    "byte_source",
    "put_bytes",
    "get_bytes",
    "list_prefix",
    "list_prefixes",
]


def is_url(location: str | os.PathLike[str]) -> bool:
    """True for ``scheme://…`` locations other than ``file://``."""
    text = str(location)
    return "://" in text and not text.startswith("file://")


def local_path(location: str | os.PathLike[str]) -> Path:
    """The filesystem path of a local location (``file://`` prefix allowed)."""
    text = str(location)
    return Path(text[len("file://") :] if text.startswith("file://") else text)


def absolute_location(location: str | os.PathLike[str]) -> str:
    """A URL as it is; a local path (``file://`` allowed) as an absolute path, so it names the
    same folder in every process (a Dask worker started elsewhere has another working
    directory).

    >>> absolute_location("s3://bucket/a.zarr")
    's3://bucket/a.zarr'
    """
    if is_url(location):
        return str(location)
    return str(local_path(location).expanduser().absolute())


#: range requests kept in flight by default when reading from object storage
DEFAULT_IN_FLIGHT = 64


def _with_defaults(location: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The storage options with this project's defaults for what the user did not set: for
    ``s3://``, a connection pool as large as the reads in flight (botocore's default of 10
    would serialise them) and bounded connect/read timeouts with few retries, so that an
    unreachable endpoint fails in seconds, not minutes."""
    opts = dict(options or {})
    if str(location).startswith(("s3://", "s3a://")):
        config = dict(opts.get("config_kwargs") or {})
        config.setdefault("max_pool_connections", DEFAULT_IN_FLIGHT)
        config.setdefault("connect_timeout", 10)
        config.setdefault("read_timeout", 60)
        config.setdefault("retries", {"max_attempts": 3, "mode": "standard"})
        opts["config_kwargs"] = config
    return opts


def zarr_store(
    location: str | os.PathLike[str],
    read_only: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> Store:
    """A Zarr store object for a path or URL (see :func:`_with_defaults` for S3)."""
    if is_url(location):
        return FsspecStore.from_url(
            str(location),
            read_only=read_only,
            storage_options=_with_defaults(str(location), storage_options),
        )
    return LocalStore(local_path(location), read_only=read_only)


def check_reachable(
    location: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> bool:
    """Whether a store's root object (``zarr.json``) exists, by one request; local paths are
    looked at on disk.

    Raises:
        StoreUnreachableError: the object store did not answer (endpoint refused or timed out,
            no credentials, access denied, no such bucket, no driver for the scheme); one
            line naming the location (credentials masked) and the client's reason.
    """
    if not is_url(location):
        p = local_path(location)
        return p.is_dir() and (p / "zarr.json").is_file()
    from shared.errors import StoreUnreachableError

    try:
        zstore = zarr_store(location, read_only=True, storage_options=storage_options)
        return bool(sync(zstore.exists("zarr.json")))
    except Exception as e:  # the client's own types (botocore, aiohttp, google, ImportError)
        raise StoreUnreachableError(unreachable_message(location, e)) from None


def unreachable_message(location: str | os.PathLike[str], e: BaseException) -> str:
    """``cannot reach the object store of LOCATION: Type: first line`` (credentials masked)."""
    from shared.secrets import redact_text

    lines = str(e).strip().splitlines()
    reason = f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__
    if isinstance(e, ImportError):
        reason = f"no driver for this URL scheme ({reason})"
    return redact_text(f"cannot reach the object store of {location}: {reason}")


#: one byte range of an object: ``(key, offset, length)``; offset ``None``: the last
#: ``length`` bytes
ByteRange = tuple[str, int | None, int]


class ByteSource(Protocol):
    """Reads byte ranges of the objects (files) inside a store."""

    def read(self, key: str, offset: int, length: int) -> bytes | None:
        """``length`` bytes at ``offset`` of object ``key``; ``None`` when the object is absent."""

    def read_suffix(self, key: str, length: int) -> bytes | None:
        """The last ``length`` bytes of ``key``; ``None`` when the object is absent."""


def read_many(src: ByteSource, ranges: Sequence[ByteRange]) -> list[bytes | None]:
    """The bytes of every range, in order (``None`` for an absent object): concurrently when
    ``src`` can (``src.read_many``: object storage), else one after another."""
    many = getattr(src, "read_many", None)
    if many is not None:
        return list(many(ranges))
    return [
        src.read_suffix(key, length) if offset is None else src.read(key, offset, length)
        for key, offset, length in ranges
    ]


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
    """Ranged reads through any Zarr store (object storage, memory); :meth:`read_many` keeps
    up to ``max_in_flight`` requests in flight at once (asyncio on Zarr's event loop)."""

    def __init__(self, store: Store, max_in_flight: int = DEFAULT_IN_FLIGHT) -> None:
        self.store = store
        self.max_in_flight = max(int(max_in_flight), 1)
        self._proto = default_buffer_prototype()

    def _request(self, offset: int | None, length: int) -> RangeByteRequest | SuffixByteRequest:
        if offset is None:
            return SuffixByteRequest(length)
        return RangeByteRequest(offset, offset + length)

    def read_many(self, ranges: Sequence[ByteRange]) -> list[bytes | None]:
        """The bytes of every range, in order, at most ``max_in_flight`` requests at a time."""
        if not ranges:
            return []
        if len(ranges) == 1 or self.max_in_flight == 1:
            return [self._one(r) for r in ranges]

        async def gather() -> list[bytes | None]:
            gate = asyncio.Semaphore(self.max_in_flight)

            async def one(key: str, offset: int | None, length: int) -> bytes | None:
                async with gate:
                    buf = await self.store.get(
                        key, self._proto, byte_range=self._request(offset, length)
                    )
                return None if buf is None else buf.to_bytes()

            async with asyncio.TaskGroup() as group:  # one failure cancels the others
                tasks = [group.create_task(one(*r)) for r in ranges]
            return [t.result() for t in tasks]

        try:
            return sync(gather())
        except Exception as e:  # the client's own types: one line, like opening the store
            while isinstance(e, ExceptionGroup) and e.exceptions:
                e = e.exceptions[0]
            raise self._unreachable(e) from None

    def _one(self, r: ByteRange) -> bytes | None:
        key, offset, length = r
        try:
            buf = sync(self.store.get(key, self._proto, byte_range=self._request(offset, length)))
        except Exception as e:
            raise self._unreachable(e) from None
        return None if buf is None else buf.to_bytes()

    def _unreachable(self, e: Exception) -> Exception:
        from shared.errors import StoreUnreachableError

        where = getattr(self.store, "path", "") or type(self.store).__name__
        return StoreUnreachableError(unreachable_message(where, e))

    def read(self, key: str, offset: int, length: int) -> bytes | None:
        buf = sync(
            self.store.get(key, self._proto, byte_range=RangeByteRequest(offset, offset + length))
        )
        return None if buf is None else buf.to_bytes()

    def read_suffix(self, key: str, length: int) -> bytes | None:
        buf = sync(self.store.get(key, self._proto, byte_range=SuffixByteRequest(length)))
        return None if buf is None else buf.to_bytes()


def byte_source(
    location: str | os.PathLike[str], store: Store, max_in_flight: int = DEFAULT_IN_FLIGHT
) -> ByteSource:
    """The fastest byte access for a location: direct file reads when local, else ranged
    requests with up to ``max_in_flight`` at once."""
    if not is_url(location):
        return LocalBytes(location)
    return StoreBytes(store, max_in_flight)


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
    return list_prefixes(store, [prefix])[prefix]


def list_prefixes(store: Store, prefixes: Sequence[str]) -> dict[str, list[str]]:
    """Keys under each of ``prefixes``, sorted, the listings running concurrently (an object
    store lists 1,000 keys per request: one after another, a million keys take minutes)."""

    async def one(prefix: str) -> list[str]:
        return [k async for k in store.list_prefix(prefix)]

    unique = list(dict.fromkeys(prefixes))

    async def gather() -> list[list[str]]:
        return list(await asyncio.gather(*(one(p) for p in unique)))

    return {p: sorted(keys) for p, keys in zip(unique, sync(gather()), strict=True)}
