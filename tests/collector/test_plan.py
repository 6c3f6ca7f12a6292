import hashlib

import numpy as np
import pytest

from collector.cli import main
from collector.plan.candidates import (
    PlanConfig,
    PlanError,
    make_plan,
    plan_windows,
    read_plan,
    write_plan,
)
from collector.plan.regions import parse_region


@pytest.fixture(scope="module")
def plan_fr():
    return make_plan(PlanConfig(region="FR", n=300, seed=11, shard_samples=16))


def test_plan_shards_and_spares(plan_fr):
    n, k, total = 300, 16, 450
    assert len(plan_fr) == total and plan_fr["candidate_id"].tolist() == list(range(total))
    primaries = plan_fr[plan_fr.spare_rank == 0]
    spares = plan_fr[plan_fr.spare_rank > 0]
    assert len(primaries) == n and len(spares) == total - n
    n_shards = -(-n // k)
    counts = primaries.groupby("shard").size()
    assert counts.index.tolist() == list(range(n_shards))
    assert (counts.iloc[:-1] == k).all() and counts.iloc[-1] == n - k * (n_shards - 1)
    assert (
        primaries.groupby("shard")["slot"].apply(lambda s: s.tolist() == list(range(len(s))))
    ).all()
    spare_counts = spares.groupby("shard").size()
    assert spare_counts.max() - spare_counts.min() <= 1  # dealt round-robin
    assert (spares["slot"] == -1).all()


def test_plan_respects_region_and_grid(plan_fr):
    region = parse_region("FR")
    assert region.contains(plan_fr.lon.to_numpy(), plan_fr.lat.to_numpy()).all()
    assert (plan_fr.country == "FR").all()
    assert set(plan_fr.epsg) <= {32630, 32631, 32632}
    tr = np.stack(plan_fr["transform"].to_numpy())
    assert np.all(tr[:, 2] % 10 == 0) and np.all(tr[:, 5] % 10 == 0)
    start, end = plan_windows(plan_fr)
    assert start.shape == (450, 4) and np.all(end > start)


def test_plan_file_is_byte_identical_and_round_trips(tmp_path, plan_fr):
    config = PlanConfig(region="FR", n=300, seed=11, shard_samples=16)
    p1 = write_plan(plan_fr, tmp_path / "a")
    p2 = write_plan(make_plan(config), tmp_path / "b")
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (p1, p2)]
    assert digest[0] == digest[1]
    other = write_plan(make_plan(PlanConfig(region="FR", n=300, seed=12)), tmp_path / "c")
    assert hashlib.sha256(other.read_bytes()).hexdigest() != digest[0]
    back, info = read_plan(tmp_path / "a")
    assert PlanConfig.from_dict(info["config"]) == config
    assert back.crs.to_epsg() == 4326 and back.geometry.name == "footprint"
    assert back.geometry.is_valid.all()


def test_plan_errors():
    with pytest.raises(ValueError, match=r"n: expected an integer in \[1, "):
        PlanConfig(n=0)
    with pytest.raises(PlanError, match="no cities"):
        make_plan(PlanConfig(region="-40,-40,-30,-30", n=5))  # South Atlantic
    with pytest.raises(PlanError, match="not a SeCo plan"):
        import pandas as pd

        pd.DataFrame({"a": [1]}).to_parquet("/tmp/_not_a_plan.parquet")
        read_plan("/tmp/_not_a_plan.parquet")


def test_cli_plan_writes_plan_and_map(tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["plan", "--region", "KEN", "--n", "40", "--seed", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Kenya" in text and "40 + 20 spares" in text
    assert (out / "plan.parquet").stat().st_size > 0
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--region", "ZZ", "--n", "5"], "not a continent"),
        (["--region", "10,60,20,50", "--n", "5"], "minlat"),
        (["--region", "0,91,1,92", "--n", "5"], "outside [-90, 90]"),
        (["--region", "FR", "--n", "0"], "n: expected an integer in [1, "),
        (["--region", "FR", "--n", "-3"], "n: expected an integer in [1, "),
        (["--region", "FR", "--n", "5", "--sigma-km", "0"], "sigma_km"),
        (["--region", "FR", "--n", "5", "--sigma-km", "-1"], "sigma_km"),
        (["--region=-40,-40,-30,-30", "--n", "5"], "no cities"),
        (["--region", "FR"], "--n is required"),
        (["--region", "FR", "--n", "five"], "invalid int value"),
        (["--region", "FR", "--n", "5", "--cities", "0"], "cities"),
        (["--region", "FR", "--n", "5", "--spares", "0.9"], "spares"),
        (["--region", "FR", "--n", "5", "--window-days", "80"], "overlap"),
        (["--region", "FR", "--n", "5", "--reference-start", "2030-01-01"], "empty"),
        (["--region", "nowhere.gpkg", "--n", "5"], "does not exist"),
    ],
)
def test_cli_malformed_inputs_one_line(tmp_path, capsys, args, message):
    code = main(["plan", *args, "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "p" / "plan.parquet").exists()


def test_cli_file_regions_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    code = main(["plan", "--region", str(empty), "--n", "5", "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot be read" in err


def test_cli_entry_point_subprocess(tmp_path):
    from tests.conftest import run_module

    proc = run_module("collector", "plan", "--region", "XX", "--n", "5", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
