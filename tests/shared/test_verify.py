import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import zarr

from shared.access.view import open_dataset
from shared.checks.verify import format_ranges, verify
from shared.store.handle import open_store
from tests.conftest import ROOT, run_module, set_root_attr


def test_valid_store_passes(tiny_store):
    report = verify(tiny_store.location)
    assert report.ok, report.problems


def test_missing_shard(tiny_store):
    zarr.open_array(f"{tiny_store.location}/shard_done", mode="r+")[1] = 0
    report = verify(tiny_store.location)
    assert not report.ok
    assert any("1 of 3 shards not done: 1" in p for p in report.problems)


def test_corrupted_chunk(tiny_store):
    shard_file = Path(tiny_store.location) / "pixels_20m" / "c" / "2" / "0" / "0" / "0" / "0"
    raw = bytearray(shard_file.read_bytes())
    raw[40] ^= 0xFF  # inside the first image's compressed bytes
    shard_file.write_bytes(bytes(raw))
    report = verify(tiny_store.location)
    assert any(p.startswith("shard 2: array 'pixels_20m'") for p in report.problems), (
        report.problems
    )
    assert verify(tiny_store.location, decode=False).ok  # only reading the bytes can see it
    import shutil  # without manifests (older stores) the chunk's own crc32c still sees it

    shutil.rmtree(Path(tiny_store.location) / "manifests")
    report = verify(tiny_store.location)
    assert any("'pixels_20m'" in p and "shard(s) 2" in p for p in report.problems), report.problems


def test_corrupted_shard_index(tiny_store):
    shard_file = Path(tiny_store.location) / "cloud" / "c" / "0" / "0" / "0" / "0"
    raw = bytearray(shard_file.read_bytes())
    raw[-10] ^= 0x01
    shard_file.write_bytes(bytes(raw))
    report = verify(tiny_store.location)
    assert any("'cloud'" in p and "crc32c" in p for p in report.problems), report.problems


def test_wrong_version(tiny_store):
    set_root_attr(tiny_store.location, "layout_version", 7)
    report = verify(tiny_store.location)
    assert not report.ok and "layout version 7" in report.problems[0]


def test_shape_mismatch(tiny_store):
    zarr.open_array(f"{tiny_store.location}/lon", mode="r+").resize((9,))
    report = verify(tiny_store.location)
    assert any("'lon' has shape (9,)" in p for p in report.problems)


def test_duplicate_location(tiny_store):
    lon = zarr.open_array(f"{tiny_store.location}/lon", mode="r+")
    lat = zarr.open_array(f"{tiny_store.location}/lat", mode="r+")
    lon[4:8] = np.r_[lon[2], lon[5:8]]
    lat[4:8] = np.r_[lat[2], lat[5:8]]
    report = verify(tiny_store.location)
    assert any("1 duplicate location(s): samples 4" in p for p in report.problems)


def test_missing_metadata_of_a_valid_sample(tiny_store):
    zarr.open_array(f"{tiny_store.location}/epsg", mode="r+")[0:4] = [32631, 0, 32631, 32631]
    report = verify(tiny_store.location)
    assert any("missing lon/lat/epsg/time: 1" in p for p in report.problems)


def test_partial_shard_write_killed_before_marker(tmp_path):
    """A writer SIGKILLed after its data but before its done-marker leaves the shard not done."""
    from shared.testing import make_store

    store = make_store(tmp_path / "k.zarr", n_samples=8, shards=[0])
    script = textwrap.dedent(
        f"""
        import os, signal
        from shared.store.handle import Store, open_store
        from shared.testing import fill_shard
        from shared.store.writer import write_shard
        original = Store.array
        def array(self, name):
            if name == "shard_done":
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, name)
        Store.array = array
        store = open_store({str(store.location)!r}, "r+")
        write_shard(store, 1, fill_shard(store.spec, 1))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert proc.returncode == -9
    assert (Path(store.location) / "pixels_20m" / "c" / "1").exists()  # data did land
    reopened = open_store(store.location)
    assert reopened.pending_shards() == [1]
    assert open_dataset(store.location).sizes["sample"] == 4
    assert any("shards not done: 1" in p for p in verify(store.location).problems)


def test_format_ranges():
    assert format_ranges([7, 1, 2, 3, 9, 10]) == "1-3, 7, 9-10"
    assert format_ranges([]) == ""


def test_cli_verify_and_info(tiny_store):
    ok = run_module("shared", "verify", str(tiny_store.location))
    assert ok.returncode == 0 and "valid, complete" in ok.stdout
    info = run_module("shared", "info", str(tiny_store.location), "--json")
    data = json.loads(info.stdout)
    assert data["synthetic"] is True and data["samples"] == 10 and data["complete"]
    text = run_module("shared", "info", str(tiny_store.location))
    assert "SYNTHETIC" in text.stdout
    zarr.open_array(f"{tiny_store.location}/shard_done", mode="r+")[0] = 0
    bad = run_module("shared", "verify", str(tiny_store.location))
    assert bad.returncode == 1 and "shards not done: 0" in bad.stdout


def test_cli_bad_input_is_one_line(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "file.txt").write_text("x")
    for cmd in ("verify", "info"):
        for target in (tmp_path / "nothing", tmp_path / "plain", tmp_path / "file.txt"):
            proc = run_module("shared", cmd, str(target))
            assert proc.returncode == 2, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
            assert str(target) in proc.stderr


def test_cli_wrong_version_exit_1(tiny_store):
    set_root_attr(tiny_store.location, "layout_version", 4)
    proc = run_module("shared", "verify", str(tiny_store.location))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    proc = run_module("shared", "info", str(tiny_store.location))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1


def test_open_store_read_only_by_default(tiny_store):
    assert open_store(tiny_store.location).read_only
