"""One writer per store: a kernel lock locally (atomic, gone with its process), a lease on S3."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.run.lock import LEASE_FILE, StoreBusyError, StoreLock
from shared.store.handle import open_store
from shared.testing import make_store
from tests.conftest import ROOT

N = 6


ROUNDS = 10


def _contend(location: str, start, hold, results) -> None:
    store = open_store(location, "r+")
    for _ in range(ROUNDS):
        start.wait()  # every process tries at the same moment
        try:
            with StoreLock(store):
                results.put("locked")
                hold.wait()  # keep it until everyone has tried
        except StoreBusyError:
            results.put("busy")
            hold.wait()


def test_exactly_one_of_n_processes_released_together_takes_it(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_samples=4)
    ctx = mp.get_context("spawn")
    start, hold = ctx.Barrier(N), ctx.Barrier(N + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_contend, args=(store.location, start, hold, results)) for _ in range(N)
    ]
    for p in procs:
        p.start()
    rounds = []
    for _ in range(ROUNDS):
        rounds.append(sorted(results.get(timeout=120) for _ in range(N)))
        hold.wait(timeout=120)  # the holder releases only after every process has tried
    for p in procs:
        p.join(timeout=60)
    assert rounds == [["busy"] * (N - 1) + ["locked"]] * ROUNDS


HOLDER = """
import sys, time
from collector.run.lock import StoreLock
from shared.store.handle import open_store
with StoreLock(open_store(sys.argv[1], "r+")):
    print("locked", flush=True)
    time.sleep(600)
"""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _dead_unreaped(pid: int) -> bool:
    """Killed and not yet reaped. The holder has threads (zarr's event loop): its leader shows
    Z while the others may still be exiting, and the open files, the lock among them, close
    with the last thread; so wait until the zombie leader is the only task left."""
    return _state(pid) == "Z" and os.listdir(f"/proc/{pid}/task") == [str(pid)]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_taken_over_at_once_after_the_holder_is_sigkilled(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_samples=4)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, store.location], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusyError, match=f"pid {holder.pid}"):
            StoreLock(open_store(store.location, "r+")).__enter__()
        os.kill(holder.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while not _dead_unreaped(holder.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        # not reaped: a zombie whose pid is still "alive" to kill(pid, 0) holds no lock
        assert _dead_unreaped(holder.pid)
        with StoreLock(open_store(store.location, "r+")) as lock:
            assert lock.path is not None and lock.path.exists()
    finally:
        holder.kill()
        holder.wait()


def test_lock_is_released_on_exit_and_reentered(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_samples=4)
    with StoreLock(store), pytest.raises(StoreBusyError):  # a second holder, even in-process
        StoreLock(open_store(store.location, "r+")).__enter__()
    with StoreLock(store):
        pass


def _s3_store(s3_server, bucket: str):
    """A small store in a new bucket of the local S3 server: (filesystem, store url)."""
    import s3fs

    from shared.layout.spec import StoreSpec
    from shared.store.handle import create_store

    fs = s3fs.S3FileSystem(**s3_server)
    fs.mkdir(bucket)
    url = f"s3://{bucket}/s.zarr"
    spec = StoreSpec(n_samples=4, size=24, shard_samples=4)
    create_store(url, spec, "synthetic", True, storage_options=s3_server)
    return fs, url


def test_s3_lease_is_exclusive_and_released(s3_server):
    fs, url = _s3_store(s3_server, "lease-test")
    first = StoreLock(open_store(url, "r+", s3_server))
    with first:
        assert fs.exists(f"lease-test/s.zarr/{LEASE_FILE}")
        with pytest.raises(StoreBusyError, match="holds s3://lease-test/s.zarr/collect.lease"):
            StoreLock(open_store(url, "r+", s3_server)).__enter__()
    assert not fs.exists(f"lease-test/s.zarr/{LEASE_FILE}")
    with StoreLock(open_store(url, "r+", s3_server)):
        pass


def test_expired_s3_lease_of_a_dead_writer_is_taken_over(s3_server):
    fs, url = _s3_store(s3_server, "lease-dead")
    dead = StoreLock(open_store(url, "r+", s3_server), lease_seconds=0.001)
    dead.__enter__()
    assert dead._lease is not None
    dead._lease._stop.set()  # the writer "dies": no renewals, no release
    time.sleep(0.05)
    with StoreLock(open_store(url, "r+", s3_server)) as lock:
        assert lock._lease is not None and lock._lease.etag
