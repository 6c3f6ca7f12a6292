"""Secrets in a STAC URL and in source options never reach the store, report or console; the
Dask dashboard listens on 127.0.0.1 unless asked otherwise; one store, however its path is
spelt."""

from __future__ import annotations

import json
import socket

import pytest

from collector.cli import main
from collector.config import CollectConfig
from collector.plan.candidates import PlanConfig
from collector.run.engine import dask_client
from tests.conftest import collect_args, free_port

PLANTED = ("PLANTEDPASSWORD1", "PLANTEDSUBSCRIPTIONKEY2", "PLANTEDHEADERTOKEN3")


def test_planted_url_and_option_secrets_never_written(tmp_path, capsys):
    """A STAC collection against an endpoint that refuses connections, with a password in the
    catalogue URL and keys in the source options: every source call fails, and nothing the
    run writes or prints carries a secret (the non-secret part of the URL stays readable)."""
    port = free_port()
    options = {
        "collection_id": "sentinel-2-l2a",
        "http_retries": 0,
        "http_retry_delay_s": 0,
        "headers": {
            "Ocp-Apim-Subscription-Key": PLANTED[1],
            "Authorization": f"Bearer {PLANTED[2]}",
        },
    }
    out = tmp_path / "stac.zarr"
    # planned first: a store that a run against an unreachable API created is removed, one
    # continued from a plan is kept, and that one must hold no secret either
    plan = ["--region", "europe", "--n", "4", "--size", "24", "--shard-samples", "4"]
    assert main(["plan", *plan, "--out", str(out)]) == 0
    argv = collect_args(
        out,
        *("--source", "stac", "--stac", f"http://alice:{PLANTED[0]}@127.0.0.1:{port}/v1"),
        *("--source-option", json.dumps(options), "--region", "europe", "--n", "4"),
        *("--size", "24", "--shard-samples", "4", "--max-attempts", "1", "--backoff", "0"),
    )
    code = main(argv)
    logs = capsys.readouterr()
    assert code in (0, 1)  # whether failed source calls end the run is the engine's business
    assert out.is_dir()
    written = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())
    for secret in (*PLANTED, "alice:"):
        assert secret.encode() not in written, secret
        assert secret not in logs.out + logs.err, secret
    stored = json.loads((out / "zarr.json").read_text())["attributes"]["config"]
    assert stored["source_options"]["catalog"] == f"http://<redacted>@127.0.0.1:{port}/v1"
    assert stored["source_options"]["headers"]["Ocp-Apim-Subscription-Key"] == "<redacted>"
    assert stored["source_options"]["collection_id"] == "sentinel-2-l2a"


def _listening(port: int, host: str) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def test_dashboard_listens_on_loopback_and_says_where():
    cfg = CollectConfig(PlanConfig(n=4), source="synthetic", scheduler="threads", workers=1)
    assert cfg.dashboard == "127.0.0.1:0"
    lines: list[str] = []
    with dask_client(cfg, 1, lines.append) as client:
        server = client.cluster.scheduler.http_server
        bound = {sock.getsockname()[0] for sock in server._sockets.values()}
        port = server.port
        assert bound == {"127.0.0.1"}
        assert _listening(port, "127.0.0.1")
    assert f"dask: dashboard http://127.0.0.1:{port}/status" in lines


def test_dashboard_address_is_checked():
    with pytest.raises(ValueError, match="dashboard: expected host:port"):
        CollectConfig(PlanConfig(n=4), source="synthetic", dashboard="everywhere")


def test_region_file_is_one_setting_however_its_path_is_spelt(tmp_path, monkeypatch):
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [[[2, 48], [3, 48], [3, 49], [2, 48]]]},
    }
    (tmp_path / "paris.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    monkeypatch.chdir(tmp_path)
    identities = [
        CollectConfig(PlanConfig(region=region, n=4), source="synthetic").identity()
        for region in ("paris.geojson", "./paris.geojson", str(tmp_path / "paris.geojson"))
    ]
    assert identities[0] == identities[1] == identities[2]
    assert identities[0]["plan"]["region"] == str((tmp_path / "paris.geojson").resolve())
