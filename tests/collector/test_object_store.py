"""Collecting into object storage: a real S3 API (moto server) on 127.0.0.1."""

from __future__ import annotations

import json

import numpy as np
import s3fs

from collector.cli import main
from shared.checks.verify import verify
from shared.store.handle import open_store
from shared.store.reader import StoreReader
from tests.conftest import SMALL


def test_collect_into_s3_and_read_back(s3_server, capsys):
    fs = s3fs.S3FileSystem(**s3_server)
    fs.mkdir("seco-test")
    url = "s3://seco-test/demo.zarr"
    argv = ["collect", *SMALL, "--n", "12", "--source", "synthetic"]
    argv += [*("--scheduler", "threads", "--workers", "2")]
    argv += ["--storage-options", json.dumps(s3_server), "--out", url]
    assert main(argv) == 0, capsys.readouterr().err
    assert verify(url, storage_options=s3_server).ok
    names = {p.rsplit("/", 1)[-1] for p in fs.ls("seco-test/demo.zarr")}
    assert {"plan.parquet", "index.parquet", "preview.png", "report.json", "pixels_10m"} <= names
    store = open_store(url, storage_options=s3_server)
    assert store.synthetic and not store.pending_shards()
    reader = StoreReader(store)
    assert type(reader._arrays["pixels_20m"].src).__name__ == "StoreBytes"  # ranged GETs over S3
    pixels = reader.pixels([0, 11], seasons=[1, 3], bands=["B4", "B8"])
    np.testing.assert_array_equal(
        pixels[1], store.array("pixels_10m").get_orthogonal_selection((11, [1, 3], [2, 3]))
    )
    native = reader.native([11], seasons=[1], bands=["B12"]).arrays["20m"]
    np.testing.assert_array_equal(native[0, 0, 0], store.array("pixels_20m")[11, 1, 5])
    assert (pixels > 0).all()
    # the credentials were runtime options: never stored
    attrs = json.dumps(store.attrs)
    assert "testing" not in attrs and "storage_options" not in attrs
    # resuming the complete store over S3 does nothing
    assert main(argv) == 0 and "0 shard(s) to do" in capsys.readouterr().out
