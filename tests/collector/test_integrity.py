"""Nothing lost: honest completion after source errors, --repair, plan --out into a store."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from collector.cli import main
from shared.checks.verify import verify
from shared.store.handle import open_store
from shared.store.manifests import manifest_key
from tests.conftest import SMALL, free_port

BASE = [*SMALL, "--seed", "3", *("--scheduler", "threads", "--workers", "1")]
PLAN = [*SMALL[:5], "--seed", "3"]  # what `plan` takes of BASE: region, size, shard size, seed


def collect(out: Path, *extra: str, n: int = 8, source: str = "synthetic") -> int:
    return main(["collect", "--n", str(n), "--source", source, *BASE, *extra, "--out", str(out)])


def content(root: Path) -> dict[str, str]:
    """sha256 of every file that must come back byte-identical (reports carry timings)."""
    # the card names the store's location, which differs for a copy
    skip = ("reports/", "report.json", "collect.lock", "map.png", "preview.png", "card.md")
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not str(p.relative_to(root)).startswith(skip)
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    assert collect(out, n=24) == 0
    return out


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def test_repair_rewrites_every_damage_kind_byte_identical(reference, tmp_path, capsys):
    out = tmp_path / reference.name  # the same name: the STAC id is the folder's
    shutil.copytree(reference, out)
    want = content(out)
    assert any(k.startswith("manifests/") for k in want)
    _flip(out / "pixels_20m/c/0/0/0/0/0")  # flipped bytes
    cloud = out / "cloud/c/1/0/0/0"
    cloud.write_bytes(cloud.read_bytes()[:-100])  # truncated
    (out / "pixels_60m/c/2/0/0/0/0").unlink()  # deleted shard object
    (out / "valid/c/3").unlink()  # deleted metadata chunks
    (out / "time/c/4/0").unlink()
    (out / manifest_key(5)).unlink()  # deleted manifest
    report = verify(out)
    assert any("6 damaged shard(s) 0-5" in p for p in report.problems), report.problems
    capsys.readouterr()
    assert collect(out, "--repair", n=24) == 0
    text = capsys.readouterr().out
    assert "repair: rewriting 6 damaged shard(s) 0-5" in text
    assert verify(out).ok
    assert content(out) == want
    assert collect(out, "--repair", n=24) == 0  # nothing left to do
    assert "repair: no damaged shard found" in capsys.readouterr().out


def test_rerun_without_repair_leaves_damage_alone_and_verify_says_how(reference, tmp_path, capsys):
    out = tmp_path / "d.zarr"
    shutil.copytree(reference, out)
    (out / "valid/c/3").unlink()
    capsys.readouterr()
    assert collect(out, n=24) == 1  # a plain resume does not finalize over damage
    err = capsys.readouterr().err.strip()
    assert err.endswith("repair with the collect command that made it plus --repair"), err
    assert "shard 3: array 'valid' (valid/c/3): object is missing" in err
    problems = verify(out).problems
    assert problems[0] == "shard 3: array 'valid' (valid/c/3): object is missing"
    assert "--repair" in problems[-1]


def _pending(out: Path) -> dict[int, dict]:
    reports = {}
    for p in (out / "reports").glob("*.json"):
        rep = json.loads(p.read_text())
        if rep.get("pending"):
            reports[rep["shard"]] = rep
    return reports


def test_source_errors_leave_slots_pending_and_a_rerun_retries_exactly_those(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    # 6 candidates for the 4 slots of shard 0 (spares 1.5): 3 fail at the source every time
    plan = tmp_path / "plan"
    assert main(["plan", "--n", "4", *PLAN, "--out", str(plan)]) == 0
    import geopandas as gpd

    ids = sorted(gpd.read_parquet(plan / "plan.parquet")["candidate_id"].tolist())[:3]
    faults = json.dumps({"faults": {"permanent_ids": ids}})
    capsys.readouterr()
    assert collect(out, "--source-option", faults, n=4) == 1
    (rep,) = _pending(out).values()
    waiting = 4 - rep["filled"]  # at most 3 filled: 3 of the 6 candidates never answer
    assert waiting >= 1 and rep["tried"] == 6
    assert rep["pending"] == {"slots": rep["pending"]["slots"], "retry": ids}
    assert len(rep["pending"]["slots"]) == waiting
    err = capsys.readouterr().err.strip()
    assert err == f"error: {waiting} slots unfilled after source errors; rerun to retry"
    assert open_store(out).pending_shards() == [0]
    problems = verify(out).problems
    assert any(
        f"{waiting} slot(s) unfilled after source errors in shard(s) 0" in p for p in problems
    )
    kept = {k: v for k, v in content(out).items() if k.startswith("pixels_")}
    # the rerun tries the 3 failed candidates again, and nothing else
    assert collect(out, "--source-option", faults, n=4) == 1
    (rep2,) = _pending(out).values()
    assert rep2["tried"] == 6 + 3 and rep2["pending"] == rep["pending"]
    assert [r["candidate_id"] for r in rep2["rejected"][-3:]] == ids
    assert {k: v for k, v in content(out).items() if k.startswith("pixels_")} == kept


def test_retry_after_the_source_recovers_finishes_the_shard(tmp_path):
    """The job level, where the source can change between runs (the CLI refuses that)."""
    from dataclasses import replace

    from collector.config import CollectConfig
    from collector.plan.candidates import PlanConfig
    from collector.run.engine import _jobs
    from collector.run.jobs import run_shard
    from collector.run.ledger import open_ledger

    cfg = CollectConfig(
        plan=PlanConfig(region="europe", n=4, seed=3, size=36, shard_samples=4),
        source="synthetic",
        progress=False,
        backoff_s=0.0,
    )
    ledger = open_ledger(cfg, str(tmp_path / "j.zarr"), synthetic=True)
    (job,) = _jobs(cfg, ledger, [0], 1)
    ids = sorted(c.location.candidate_id for c in job.candidates)[:3]
    broken = replace(job, source_options={"faults": {"permanent_ids": ids}})
    first = run_shard(broken)
    assert first.pending is not None
    assert first.pending["retry"] == ids and not ledger.store.done_shards()[0]
    waiting = len(first.pending["slots"])
    second = run_shard(job)  # the source answers again: only the waiting slots are retried
    assert second.pending is None and 6 + waiting <= second.tried <= 6 + 3
    store = open_store(ledger.store.location)
    assert store.done_shards()[0]
    assert int(store.array("valid")[:].sum()) == first.filled + waiting


def test_a_source_failing_for_everything_stops_early(tmp_path, capsys):
    out = tmp_path / "down.zarr"
    assert collect(out, "--faults", "permanent=1", n=40) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: source unreachable: "), err
    assert "candidates in a row failed for source reasons" in err
    assert len(open_store(out).pending_shards()) == 10  # nothing marked done
    tried = sum(len(r["rejected"]) for r in _pending(out).values())
    assert 8 <= tried < 60  # stopped early: the plan holds 60 candidates


def test_refused_stac_api_exits_1_in_one_line_and_removes_the_store_it_made(tmp_path, capsys):
    out = tmp_path / "stac.zarr"
    options = json.dumps({"collection_id": "sentinel-2-l2a", "http_retries": 0})
    argv = ["--stac", f"http://127.0.0.1:{free_port()}/v1", "--source-option", options]
    assert collect(out, *argv, n=16, source="stac") == 1  # default --max-attempts 6
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: source unreachable: "), err
    assert "connection was refused" in err and f"removed {out}" in err
    assert "\n" not in err
    assert not out.exists()


def test_refused_stac_api_keeps_a_folder_that_existed_before(tmp_path, capsys):
    out = tmp_path / "plan-first"
    assert main(["plan", "--n", "16", *PLAN, "--out", str(out)]) == 0
    planned = (out / "plan.parquet").read_bytes()
    options = json.dumps({"collection_id": "sentinel-2-l2a", "http_retries": 0})
    argv = ["--stac", f"http://127.0.0.1:{free_port()}/v1", "--source-option", options]
    assert collect(out, *argv, n=16, source="stac") == 1
    assert "source unreachable" in capsys.readouterr().err
    assert (out / "plan.parquet").read_bytes() == planned  # kept: a rerun continues from it


def test_stac_api_whose_name_does_not_resolve_fails_before_writing(tmp_path, capsys):
    out = tmp_path / "stac.zarr"
    options = json.dumps({"collection_id": "sentinel-2-l2a"})
    argv = ["--stac", "http://stac.example.invalid/v1", "--source-option", options]
    assert collect(out, *argv, n=16, source="stac") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: source unreachable: the STAC API "), err
    assert "stac.example.invalid does not resolve" in err and "nothing was written" in err
    assert "\n" not in err and not out.exists()


def test_plan_refuses_to_write_into_an_existing_store(reference, tmp_path, capsys):
    out = tmp_path / "s.zarr"
    shutil.copytree(reference, out)
    before = content(out) | {
        "plan": hashlib.sha256((out / "plan.parquet").read_bytes()).hexdigest()
    }
    capsys.readouterr()
    assert main(["plan", "--n", "4", "--region", "FR", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --out {out} is a store; plan into another folder"
    after = content(out) | {"plan": hashlib.sha256((out / "plan.parquet").read_bytes()).hexdigest()}
    assert after == before
