"""Datasets in the published layouts, and stores imported from them (once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main
from collector.importers.testing import write_geotiff_dataset, write_zarr_dataset


def import_args(fmt: str, data: Path, out: Path, *extra: str) -> list[str]:
    """``import`` arguments for a quiet in-process run (2 worker threads, shards of 2)."""
    return [
        "import",
        fmt,
        str(data),
        "--out",
        str(out),
        *("--scheduler", "threads", "--workers", "2", "--shard-samples", "2", "--no-progress"),
        *extra,
    ]


@pytest.fixture(scope="session")
def datasets(tmp_path_factory) -> dict[str, Path]:
    """SeCo (5 locations), SSL4EO-S12 v1 ``s2c`` (4) and v1.1 Zarr (files of 3 and 2 samples)."""
    root = tmp_path_factory.mktemp("published")
    return {
        "seco": write_geotiff_dataset(root / "seasonal_contrast_100k", "seco", 5),
        "ssl4eo-s12": write_geotiff_dataset(root / "ssl4eo" / "s2c", "ssl4eo", 4, level="L1C"),
        "ssl4eo-s12-zarr": write_zarr_dataset(root / "ssl4eo-v11", (3, 2)),
    }


@pytest.fixture(scope="session")
def imported(datasets, tmp_path_factory) -> dict[str, Path]:
    """A finished store per format, imported through the CLI."""
    root = tmp_path_factory.mktemp("imported")
    stores = {}
    for fmt, data in datasets.items():
        out = root / f"{fmt}.zarr"
        assert main(import_args(fmt, data, out)) == 0
        stores[fmt] = out
    return stores
