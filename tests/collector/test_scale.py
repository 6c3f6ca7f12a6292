"""Costs that must not grow with the store: a shard task's requests, building the jobs,
finalizing with nothing to do; and the one run machinery shared by collect and import."""

from __future__ import annotations

import re
import uuid
from typing import Any

import numpy as np
import pytest
from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from collector.config import CollectConfig
from collector.plan.candidates import PlanConfig
from shared.store import handle
from shared.store.handle import Store, open_store

from .test_engine import collect


class RecordingStore(WrapperStore[Any]):
    """Every request a store receives: ``(method, key or prefix)``."""

    calls: list[tuple[str, str]]

    def __init__(self, store: Any, calls: list[tuple[str, str]]) -> None:
        super().__init__(store)
        self.calls = calls

    def _with_store(self, store: Any) -> RecordingStore:
        return type(self)(store, self.calls)

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        self.calls.append(("get", key))
        return await self._store.get(key, prototype, byte_range)

    async def exists(self, key: str) -> bool:
        self.calls.append(("exists", key))
        return await self._store.exists(key)

    async def set(self, key: str, value: Buffer) -> None:
        self.calls.append(("set", key))
        await self._store.set(key, value)

    async def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        await self._store.delete(key)

    def list(self) -> Any:
        self.calls.append(("list", ""))
        return self._store.list()

    def list_prefix(self, prefix: str) -> Any:
        self.calls.append(("list", prefix))
        return self._store.list_prefix(prefix)

    def list_dir(self, prefix: str) -> Any:
        self.calls.append(("list", prefix))
        return self._store.list_dir(prefix)


def _shard_of(key: str) -> int | None:
    """The shard a key belongs to (marker, manifest, report, summary, chunk), if any."""
    m = re.search(r"shard-(\d+)\.json$", key) or re.match(r"[a-z_]+/c/(\d+)", key)
    return int(m.group(1)) if m else None


def _config(n: int, shard_samples: int = 4) -> CollectConfig:
    return CollectConfig(
        plan=PlanConfig(region="europe", n=n, seed=3, size=24, shard_samples=shard_samples),
        source="synthetic",
        progress=False,
        backoff_s=0.0,
    )


def test_a_shard_task_touches_only_its_own_marker_and_objects(monkeypatch):
    from collector.run.engine import _jobs
    from collector.run.jobs import run_shard
    from collector.run.ledger import open_ledger

    cfg = _config(32)
    ledger = open_ledger(cfg, f"memory://scale-{uuid.uuid4().hex}.zarr", synthetic=True)
    jobs = _jobs(cfg, ledger, list(range(8)), 1)
    for job in jobs[:6]:
        assert not run_shard(job).skipped
    calls: list[tuple[str, str]] = []
    real = handle.zarr_store
    monkeypatch.setattr(handle, "zarr_store", lambda *a, **k: RecordingStore(real(*a, **k), calls))
    assert not run_shard(jobs[6]).skipped  # a new shard of a store with 6 finished
    assert run_shard(jobs[2]).skipped  # a finished one: left alone
    assert calls, "the recording store saw nothing"
    assert not [c for c in calls if c[0] == "list"], "a shard task listed the store"
    touched = {_shard_of(k) for _, k in calls} - {None}
    assert touched == {6, 2}, sorted(c for c in calls if _shard_of(c[1]) not in (None, 6, 2))
    markers = [c for c in calls if c[1].startswith("shard_done/c/")]
    assert {k for _, k in markers} == {"shard_done/c/6", "shard_done/c/2"}
    # the finished shard costs its marker check plus opening the store, nothing of its data
    skipped = calls[calls.index(("exists", "shard_done/c/2")) :]
    assert [k for _, k in skipped if _shard_of(k) is not None] == ["shard_done/c/2"]


def test_jobs_of_many_shards_are_built_in_one_pass_over_the_plan(tmp_path, monkeypatch):
    from collector.run import ledger as ledger_module
    from collector.run.engine import _jobs

    cfg = _config(400, shard_samples=4)  # 100 shards
    led = ledger_module.open_ledger(cfg, str(tmp_path / "j.zarr"), synthetic=True)
    passes = []
    real = ledger_module.plan_windows
    monkeypatch.setattr(
        ledger_module, "plan_windows", lambda rows: passes.append(len(rows)) or real(rows)
    )
    jobs = _jobs(cfg, led, list(range(led.store.spec.n_shards)), 1)
    assert len(jobs) == 100 and passes == [len(led.plan)]  # one pass over every row
    for job in jobs[::33]:  # the same candidates as asking one shard at a time
        assert list(job.candidates) == led.candidates(job.shard)
    assert sum(len(j.candidates) for j in jobs) == len(led.plan)


def _reads(monkeypatch) -> list[str]:
    keys: list[str] = []
    real = Store.read_objects
    real_one = Store.read_object

    def many(self, wanted, threads=16):
        keys.extend(wanted)
        return real(self, wanted, threads)

    def one(self, key):
        keys.append(key)
        return real_one(self, key)

    monkeypatch.setattr(Store, "read_objects", many)
    monkeypatch.setattr(Store, "read_object", one)
    return keys


def test_finalize_is_incremental_and_a_rerun_with_nothing_to_do_reads_no_shard(
    tmp_path, capsys, monkeypatch
):
    from collector.run.finalize import finalize
    from shared.store.reader import StoreReader
    from shared.store.summary import drop_record, merged_record

    out = tmp_path / "f.zarr"
    assert collect(out, n=16) == 0
    report = (out / "report.json").read_bytes()
    capsys.readouterr()
    keys = _reads(monkeypatch)
    decoded: list[Any] = []
    monkeypatch.setattr(StoreReader, "pixels", lambda *a, **k: decoded.append(a))
    assert collect(out, n=16) == 0
    assert "nothing to finalize" in capsys.readouterr().out
    assert not [k for k in keys if _shard_of(k) is not None], keys
    assert not decoded and (out / "report.json").read_bytes() == report

    # one shard rewritten: only its summary and report are read again
    monkeypatch.undo()
    keys = _reads(monkeypatch)
    store = open_store(out, "r+")
    before = (out / "summaries/samples.parquet").read_bytes()
    finalize(store, lambda _line: None, changed={2})
    per_shard = {_shard_of(k) for k in keys if k.startswith(("summaries/shard-", "reports/"))}
    assert per_shard == {2}
    assert (out / "summaries/samples.parquet").read_bytes() == before

    # a run that rewrote shard 3 and died before finalizing: the next finalize reads it again
    drop_record(store, [3])
    assert merged_record(open_store(out)) is None
    keys.clear()
    finalize(open_store(out, "r+"), lambda _line: None)
    per_shard = {_shard_of(k) for k in keys if k.startswith(("summaries/shard-", "reports/"))}
    assert per_shard == {3} and merged_record(open_store(out)) is not None


def test_merge_in_batches_equals_one_merge_byte_for_byte(tmp_path, monkeypatch):
    # the merge parses a bounded batch of summaries at a time (memory at 1M locations); the
    # tables it writes do not depend on the batch size
    from shared.store import merge, summary
    from shared.store.merge import merge_summaries, save_merge
    from shared.store.summary import SAMPLES_KEY, SHARDS_KEY

    out = tmp_path / "m.zarr"
    assert collect(out, n=24) == 0
    store = open_store(out, "r+")
    done = store.done_shards()
    assert done.sum() >= 5
    tables = []
    for batch in (10_000, 2):
        monkeypatch.setattr(merge, "MERGE_BATCH", batch)
        summary.drop_record(store)  # forget the merge: every summary is read again
        samples, shards, missing = merge_summaries(store, done)
        assert not missing
        save_merge(store, done, samples, shards)
        tables.append((store.read_object(SAMPLES_KEY), store.read_object(SHARDS_KEY)))
    assert tables[0] == tables[1]
    assert len(samples) == int(np.asarray(store.array("valid")[:]).sum())


def test_live_samples_trusts_the_merge_only_while_it_describes_the_store(tmp_path):
    from shared.store.manifests import DamagedShardError
    from shared.store.summary import live_samples, merged_record

    out = tmp_path / "l.zarr"
    assert collect(out, n=16) == 0
    store = open_store(out)
    assert merged_record(store) is not None
    valid = np.flatnonzero(np.asarray(store.array("valid")[:]))
    assert live_samples(store).tolist() == valid.tolist()
    (out / "lon/c/1").unlink()  # a deleted object is still refused on the fast path
    with pytest.raises(DamagedShardError, match="shard 1: array 'lon'"):
        live_samples(open_store(out))
    (out / "shard_done/c/3").unlink()  # another done set: the merge is not trusted
    assert merged_record(open_store(out)) is None


def test_collect_and_import_run_on_the_same_machinery(tmp_path, monkeypatch):
    from collector.cli import main
    from collector.importers.testing import write_geotiff_dataset
    from collector.run import engine, finalize

    used: list[str] = []
    real_run, real_finalize = engine.run_shard_tasks, finalize.finalize

    def run(cfg, task, *a, **k):
        used.append(f"run:{task.__name__}")
        return real_run(cfg, task, *a, **k)

    def fin(store, *a, **k):
        used.append("finalize")
        return real_finalize(store, *a, **k)

    monkeypatch.setattr(engine, "run_shard_tasks", run)
    monkeypatch.setattr(finalize, "finalize", fin)
    assert collect(tmp_path / "c.zarr", n=8) == 0
    data = write_geotiff_dataset(tmp_path / "seasonal_contrast_100k", "seco", 2)
    argv = ["import", "seco", str(data), "--out", str(tmp_path / "i.zarr")]
    argv += ["--scheduler", "threads", "--workers", "1", "--shard-samples", "2", "--no-progress"]
    assert main(argv) == 0
    assert used == ["run:run_shard", "finalize", "run:import_shard", "finalize"]
    from collector.run.ledger import read_report

    report = read_report(open_store(tmp_path / "i.zarr"), 0)
    assert report is not None and report.filled == 2 and report.inputs_rejected == {}
