"""One writing collection per store: a kernel-held lock locally, a lease object on S3.

Local stores: ``collect.lock`` in the store folder, locked with ``fcntl.flock`` (exclusive,
non-blocking). Taking it is atomic, and the kernel releases it when the holder's process ends
however it ends (SIGKILL included; a zombie holds no files), so there are no stale locks and no
pid guessing. The file itself stays; only the lock on it matters.

Object stores on S3 (``s3://``): a lease object ``collect.lease`` created with a conditional
put (``If-None-Match: *``), which S3 (and moto's server) answers 412 when the object exists.
The lease names its holder and an expiry; the holder renews it while it runs. An expired
lease (a killed holder) is taken over with ``If-Match`` on its ETag, so two takers cannot both
win. Other object stores (``gs://``, ``memory://``, …) have no lock: the collection prints a
warning, and running two collections into one such store at once is not supported.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from shared.store.handle import Store
from shared.store.location import is_url, local_path

__all__ = ["LOCK_FILE", "LEASE_FILE", "StoreBusyError", "StoreLock", "remove_partial_writes"]

LOCK_FILE = "collect.lock"
LEASE_FILE = "collect.lease"
LEASE_SECONDS = 300.0  # an S3 lease not renewed for this long belongs to a dead collection


class StoreBusyError(RuntimeError):
    """Another live collection holds the store's lock."""


class StoreLock:
    """Context manager: hold the store's writer lock (see the module docs).

    Raises:
        StoreBusyError: another collection holds it.
    """

    def __init__(self, store: Store, lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.path = None if is_url(store.location) else local_path(store.location) / LOCK_FILE
        self.removed = 0  # temporaries of killed writes removed on taking the lock
        self.warning: str | None = None  # set when the backend offers no lock
        self._fd: int | None = None
        self._lease: _S3Lease | None = None
        self._lease_seconds = lease_seconds

    def __enter__(self) -> StoreLock:
        if self.path is not None:
            self._fd = _flock(self.path)
            self.removed = remove_partial_writes(self.path.parent)
            return self
        if self.store.location.startswith(("s3://", "s3a://")):
            self._lease = _S3Lease(self.store, self._lease_seconds)
            self._lease.acquire()
        else:
            scheme = self.store.location.split("://", 1)[0]
            self.warning = (
                f"no writer lock on {scheme}:// stores: do not run a second collection into "
                "this store until this one ends"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None


def _flock(path: Path) -> int:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise StoreBusyError(
            f"another collection{holder} is writing this store (it holds {path}); wait for it"
        ) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)  # for people only: who holds it; the kernel lock is what counts
    os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode(), 0)
    return fd


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f" (pid {int(info['pid'])} on {info['host']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


class _S3Lease:
    """A lease object in an S3 store, created and taken over with conditional puts."""

    def __init__(self, store: Store, seconds: float) -> None:
        fs = store.raw.fs
        self.fs = fs
        root = store.location.split("://", 1)[1].rstrip("/")
        self.bucket, _, prefix = root.partition("/")
        self.key = f"{prefix}/{LEASE_FILE}" if prefix else LEASE_FILE
        self.url = f"s3://{self.bucket}/{self.key}"
        self.seconds = seconds
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "token": os.urandom(8).hex()}
        self.etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        from zarr.core.sync import sync  # the loop zarr's asynchronous filesystem lives on

        return dict(sync(self.fs._call_s3(method, Bucket=self.bucket, Key=self.key, **kwargs)))

    def _put(self, **condition: str) -> str:
        body = json.dumps({**self.me, "expires": time.time() + self.seconds}).encode()
        return str(self._call("put_object", Body=body, **condition).get("ETag", ""))

    def _head(self) -> dict[str, Any] | None:
        try:
            got = self._call("get_object")
        except FileNotFoundError:
            return None
        from zarr.core.sync import sync

        async def read(body: Any) -> bytes:
            async with body as stream:
                return bytes(await stream.read())

        raw = sync(read(got["Body"]))
        head = got
        try:
            info = json.loads(raw)
        except ValueError:
            info = {}
        return {"etag": str(head.get("ETag", "")), **info}

    def acquire(self) -> None:
        try:
            self.etag = self._put(IfNoneMatch="*")
        except Exception as e:
            if not _precondition_failed(e):
                raise
            other = self._head()
            if other is None:  # released meanwhile: try once more
                self.etag = self._put(IfNoneMatch="*")
            elif float(other.get("expires", 0)) > time.time():
                raise StoreBusyError(
                    f"another collection (pid {other.get('pid')} on {other.get('host')}) holds "
                    f"{self.url}; wait for it (its lease expires within {self.seconds:.0f} s "
                    "of its last renewal)"
                ) from None
            else:
                try:  # an expired lease: take it over only if nobody renewed it meanwhile
                    self.etag = self._put(IfMatch=other["etag"])
                except Exception as e2:
                    if _precondition_failed(e2):
                        raise StoreBusyError(
                            f"another collection took over {self.url} just now"
                        ) from None
                    raise
        self._thread = threading.Thread(target=self._renew, daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if self.etag is not None:
                    self.etag = self._put(IfMatch=self.etag)
            except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        other = self._head()
        if other is not None and other.get("token") == self.me["token"]:
            self._call("delete_object")


def _precondition_failed(e: BaseException) -> bool:
    text = f"{type(e).__name__} {e} {getattr(e, '__cause__', '')}"
    return "PreconditionFailed" in text or "412" in text or isinstance(e, FileExistsError)


def remove_partial_writes(root: Path) -> int:
    """Delete the temporaries a killed write left under ``root``; returns how many.

    zarr's local store writes each object to ``<key>.<uuid>.partial`` and renames it into
    place, so a SIGKILL mid-write leaves the temporary behind (never a half-written object).
    Call only while holding the store's lock: then no live writer owns one.
    """
    removed = 0
    for path in root.rglob("*.partial"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
