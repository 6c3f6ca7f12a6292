"""Damaged downloads: each bad location is skipped with its reason, never a traceback."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

from collector.cli import main
from collector.importers.testing import (
    seco_value,
    write_geotiff_dataset,
    write_tif,
    write_zarr_dataset,
    zip_folder,
)
from shared.checks.verify import verify
from shared.store.handle import open_store
from tests.collector.importers.conftest import import_args


def _reasons(out) -> dict[int, str]:
    report = json.loads((out / "report.json").read_text())
    return {r["candidate_id"]: r["reason"] for shard in report["shards"] for r in shard["rejected"]}


def test_damaged_seco_locations_are_skipped_with_reasons(tmp_path):
    data = write_geotiff_dataset(tmp_path / "seco", "seco", 6)
    scenes = {
        loc: sorted(p for p in (data / f"{loc:06d}").iterdir() if p.is_dir())
        for loc in (1, 2, 3, 4)
    }
    shutil.rmtree(scenes[1][2])  # 4 scenes instead of 5
    (scenes[2][0] / "B5.tif").unlink()  # a missing band file
    (scenes[3][4] / "B8A.tif").write_bytes(b"II*\x00 truncated download")  # unreadable
    write_tif(  # a 10 m band at the wrong size
        scenes[4][1] / "B2.tif", np.full((100, 100), 7, np.uint8), "+proj=latlong", (0, 0, 1, 1)
    )
    out = tmp_path / "seco.zarr"
    assert main(import_args("seco", data, out)) == 0
    assert verify(out).ok
    store = open_store(out)
    assert np.asarray(store.array("valid")[:]).tolist() == [True, False, False, False, False, True]
    reasons = _reasons(out)
    assert sorted(reasons) == [1, 2, 3, 4]
    assert "000001: 4 scene folder(s), expected 5" in reasons[1]
    assert "B5.tif: missing band file" in reasons[2]
    assert "B8A.tif: unreadable" in reasons[3]
    assert "B2.tif: 100×100 px, expected 264×264" in reasons[4]
    # the good neighbours are whole
    pixels = np.asarray(store.array("pixels_10m")[5])  # B4 (store band 3) is 10 m band 2
    assert np.all(pixels[0, 2] == round(seco_value(5, 0, 3) / 255 * 10_000))
    assert "bad input" in (out / "card.md").read_text()


def test_damaged_zarr_files_are_skipped_with_reasons(tmp_path, capsys):
    import xarray as xr

    data = write_zarr_dataset(tmp_path / "v11", (2, 2, 1))
    folder = data / "train" / "S2L1C"
    files = sorted(folder.glob("*.zarr.zip"))
    files[0].write_bytes(files[0].read_bytes()[:4000])  # a truncated download
    # a file whose bands have the wrong size
    ds = xr.Dataset(
        {
            "bands": (
                ("sample", "time", "band", "y", "x"),
                np.ones((1, 4, 13, 100, 100), np.int16),
            ),
            **{v: (("sample",), np.zeros(1)) for v in ("center_lon", "center_lat", "crs")},
            "x_": (("sample", "x"), np.zeros((1, 100))),
            "y_": (("sample", "y"), np.zeros((1, 100))),
            "time_": (("sample", "time"), np.full((1, 4), np.datetime64("2021-01-01", "ns"))),
            "file_id": (("sample", "time"), np.full((1, 4), "x")),
        }
    )
    ds.to_zarr(tmp_path / "wrong.zarr", zarr_format=2, mode="w")
    files[2].unlink()
    zip_folder(tmp_path / "wrong.zarr", files[2])
    # a damaged chunk: the second sample of the second file
    with zipfile.ZipFile(files[1]) as z:
        z.extractall(tmp_path / "second.zarr")
    (tmp_path / "second.zarr" / "bands" / "1.0.0.0.0").write_bytes(b"\x00garbage")
    files[1].unlink()
    zip_folder(tmp_path / "second.zarr", files[1])
    out = tmp_path / "v11.zarr"
    assert main(import_args("ssl4eo-s12-zarr", data, out)) == 0
    assert "skipped file train/S2L1C/ssl4eos12_train_seasonal_data_000001.zarr.zip" in (
        capsys.readouterr().out
    )
    assert verify(out).ok
    store = open_store(out)
    assert store.spec.n_samples == 3  # the truncated file's samples could not be listed
    assert np.asarray(store.array("valid")[:]).tolist() == [True, False, False]
    reasons = _reasons(out)
    assert "000002.zarr.zip:1: unreadable" in reasons[1]
    assert "y 100 (expected 264)" in reasons[2]
    skipped = store.attrs["imported_from"]["skipped_files"]
    assert len(skipped) == 1 and "unreadable" in skipped[0]


@pytest.mark.parametrize(
    "args,message",
    [
        (["seco", "{missing}"], "does not exist"),
        (["seco", "{empty}"], "holds no seco location folders"),
        (["seco", "{seco}", "--level", "l1c"], "--level l1c: seco holds L2A only"),
        (["ssl4eo-s12", "{s2a}", "--level", "l1c"], "holds L2A, not --level l1c"),
        (["ssl4eo-s12-zarr", "{seco}"], "holds no S2L1C files"),
        (["seco", "{seco}", "--limit", "0"], "--limit must be ≥ 1"),
        (["landsat", "{seco}"], "invalid choice"),
    ],
)
def test_bad_data_is_a_usage_error(tmp_path, capsys, args, message):
    seco = write_geotiff_dataset(tmp_path / "seco", "seco", 1)
    (tmp_path / "s2a").mkdir()
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "seco": seco}
    paths["s2a"] = tmp_path / "s2a"
    words = [a.format(**paths) for a in args]
    out = tmp_path / "out.zarr"
    assert main(["import", *words, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_out_holding_another_import_is_refused(tmp_path, capsys):
    data = write_geotiff_dataset(tmp_path / "seco", "seco", 3)
    out = tmp_path / "seco.zarr"
    assert main(import_args("seco", data, out, "--limit", "2")) == 0
    before = (out / "zarr.json").read_bytes()
    assert main(import_args("seco", data, out)) == 2
    err = capsys.readouterr().err
    assert "differs in limit, locations, locations_sha256" in err
    assert (out / "zarr.json").read_bytes() == before
