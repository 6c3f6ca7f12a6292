"""Quarantine: a location that fails its checks is skipped and listed, the import goes on.

The rules (``collector/importers/quarantine.py``, README "Bad input"): bad locations are
skipped with their reason (outcome ``bad input``, counted apart from source errors); of two
locations with the same lon/lat the first is kept and the later one skipped with a note; an
import none of whose first locations can be read fails before it creates anything.
"""

from __future__ import annotations

import json
import shutil

import numpy as np

from collector.cli import main
from collector.importers.testing import write_geotiff_dataset, write_zarr_dataset, zip_folder
from shared.checks.verify import verify
from shared.store.handle import open_store
from tests.collector.importers.conftest import import_args
from tests.outside_inputs import sparse_tif


def _report(out) -> dict:
    return json.loads((out / "report.json").read_text())


def _reasons(out) -> dict[int, str]:
    return {r["candidate_id"]: r["reason"] for s in _report(out)["shards"] for r in s["rejected"]}


def test_duplicate_coordinates_keep_the_first_and_skip_the_later(tmp_path, capsys):
    """torchgeo's SeCo fixture has two locations with the same coordinates: the import used to
    write them all and then fail in finalize's verify."""
    data = write_geotiff_dataset(tmp_path / "seco", "seco", 3)
    shutil.copytree(data / "000000", data / "000003")  # same place, another folder name
    out = tmp_path / "seco.zarr"
    assert main(import_args("seco", data, out)) == 0
    printed = capsys.readouterr().out
    assert "skipped 1 duplicate location(s)" in printed
    assert "1 rejected input(s)" in printed and "1 failed" not in printed
    store = open_store(out)
    assert np.asarray(store.array("valid")[:]).tolist() == [True, True, True, False]
    assert _reasons(out) == {
        3: "bad input: sample 3: duplicate location (same lon/lat as sample 0)"
    }
    summary = _report(out)["summary"]
    assert summary["bad_input"] == 1 and summary["failed"] == 0
    assert verify(out).ok
    card = (out / "card.md").read_text()
    assert "rejected input (quarantined locations" in card
    assert "1 × bad input: duplicate location" in card
    # a rerun finds everything done and nothing more to drop
    assert main(import_args("seco", data, out)) == 0
    assert "skipped 1 duplicate" not in capsys.readouterr().out
    assert np.asarray(open_store(out).array("valid")[:]).tolist() == [True, True, True, False]


def test_a_sparse_huge_tiff_is_refused_by_its_header(tmp_path):
    """720 KB declaring 100000² px: refused before a pixel is read; the others import."""
    data = write_geotiff_dataset(tmp_path / "seco", "seco", 3)
    scene = sorted(p for p in (data / "000001").iterdir() if p.is_dir())[2]
    (scene / "B3.tif").unlink()
    sparse_tif(scene / "B3.tif", 100_000)
    out = tmp_path / "seco.zarr"
    assert main(import_args("seco", data, out)) == 0
    assert np.asarray(open_store(out).array("valid")[:]).tolist() == [True, False, True]
    assert "B3.tif: declares 100000×100000 px, over the budget" in _reasons(out)[1]
    assert verify(out).ok


def test_one_bad_sample_in_a_zip_is_skipped(tmp_path):
    """crs 99999 and lat 400 in two samples of a zip: those two are skipped with their reasons,
    the third imports; the summary counts them as rejected input, not source errors."""
    import xarray as xr
    from zarr.storage import ZipStore

    data = write_zarr_dataset(tmp_path / "v11", (3,))
    path = next(data.rglob("*_000001.zarr.zip"))
    zs = ZipStore(str(path), mode="r")
    ds = xr.open_zarr(zs, zarr_format=2, chunks=None).load()
    zs.close()
    crs = ds["crs"].values.copy()
    crs[0] = 99999
    lat = ds["center_lat"].values.copy()
    lat[2] = 400.0
    ds["crs"] = (("sample",), crs)
    ds["center_lat"] = (("sample",), lat)
    tmp = tmp_path / "edited.zarr"
    ds.to_zarr(tmp, zarr_format=2, consolidated=True, mode="w")
    path.unlink()
    zip_folder(tmp, path)
    out = tmp_path / "v11.zarr"
    assert main(import_args("ssl4eo-s12-zarr", data, out)) == 0
    assert np.asarray(open_store(out).array("valid")[:]).tolist() == [False, True, False]
    reasons = _reasons(out)
    assert "crs EPSG:99999 is not a known CRS" in reasons[0]
    assert "latitude 400 is outside [-90, 90]" in reasons[2]
    summary = _report(out)["summary"]
    assert summary["bad_input"] == 2 and summary["failed"] == 0
    assert verify(out).ok


def test_nothing_readable_fails_before_a_store_is_created(tmp_path, capsys):
    data = write_geotiff_dataset(tmp_path / "seco", "seco", 2)
    for loc in ("000000", "000001"):
        for k, scene in enumerate(sorted(p for p in (data / loc).iterdir() if p.is_dir())):
            scene.rename(data / loc / f"scene_{k}")
    out = tmp_path / "none.zarr"
    assert main(import_args("seco", data, out)) == 2
    err = capsys.readouterr().err
    assert "none of the first 2 location(s) is a readable seco location" in err
    assert not out.exists()
