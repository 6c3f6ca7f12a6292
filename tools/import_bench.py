"""``python -m tools.import_bench``: import throughput and bytes, per format.

For each format a textured dataset of ``--n`` locations is written in the published layout
(:mod:`collector.importers.testing`) and imported by one in-process Dask worker thread. The
shard phase gives two rates: per wall-clock second (what a user waits; noisy on a shared
machine) and per CPU second of the process (the per-core cost, robust to other jobs). The
store's bytes are compared with the source folder's. Figures go to ``docs/benchmarks.*`` through :func:`tools.record.record`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.importers.run import ImportConfig, import_dataset
from collector.importers.testing import write_geotiff_dataset, write_zarr_dataset
from tools.record import add_record_flag, record, set_recording

__all__ = ["bench_import", "disk_bytes"]

FORMATS = ("seco", "ssl4eo-s12", "ssl4eo-s12-zarr")


def disk_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (apparent sizes)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _zarr_dataset(root: Path, n: int) -> Path:
    per_file = [32] * (n // 32) + ([n % 32] if n % 32 else [])
    return write_zarr_dataset(root / "v11", tuple(per_file), texture=True)


#: format → how its benchmark data set is written (root, locations)
_DATASETS: dict[str, Callable[[Path, int], Path]] = {
    "seco": lambda root, n: write_geotiff_dataset(
        root / "seasonal_contrast", "seco", n, texture=True
    ),
    "ssl4eo-s12": lambda root, n: write_geotiff_dataset(
        root / "s2c", "ssl4eo", n, level="L1C", texture=True
    ),
    "ssl4eo-s12-zarr": _zarr_dataset,
}


def _dataset(fmt: str, root: Path, n: int) -> Path:
    return _DATASETS[fmt](root, n)


def bench_import(fmt: str, n: int, tmp: Path) -> dict[str, Any]:
    """Import ``n`` textured locations of ``fmt`` with one worker process; figures as a dict."""
    data = _dataset(fmt, tmp / fmt, n)
    out = tmp / f"{fmt}.zarr"
    cfg = ImportConfig(fmt, str(data), scheduler="threads", workers=1, progress=False)
    result = import_dataset(cfg, str(out), log=lambda _msg: None)
    source = disk_bytes(data)
    if fmt == "ssl4eo-s12-zarr":  # the S1 decoy beside the S2 files is not the source
        source = disk_bytes(data / "train" / "S2L1C")
    store = disk_bytes(out)
    pixels = sum(disk_bytes(p) for p in out.glob("pixels*"))
    return {
        "locations": n,
        "shard_seconds": round(result.seconds, 2),
        "locations_per_s_wall": round(n / result.seconds, 2),
        "cpu_seconds": round(result.cpu_seconds, 2),
        "locations_per_cpu_s": round(n / result.cpu_seconds, 2),
        "source_mib": round(source / 2**20, 2),
        "store_mib": round(store / 2**20, 2),
        "pixels_mib": round(pixels / 2**20, 2),
        "store_over_source": round(store / source, 3),
    }


def _rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """The page's rows for every format with figures (this run's or an earlier one's)."""
    rows: list[tuple[str, str]] = []
    for fmt in FORMATS:
        got = {k.split(".", 2)[2]: v for k, v in figures.items() if k.startswith(f"import.{fmt}.")}
        if "locations_per_cpu_s" not in got:
            continue
        rows.append(
            (
                f"{fmt}: import, one worker thread",
                f"{got['locations_per_cpu_s']} locations per CPU second "
                f"({got['locations']} in {got['cpu_seconds']} CPU s); wall clock "
                f"{got['locations_per_s_wall']} locations/s ({got['shard_seconds']} s); "
                "finalize excluded",
            )
        )
        rows.append(
            (
                f"{fmt}: store vs source on disk",
                f"{got['store_mib']} MiB vs {got['source_mib']} MiB = "
                f"{got['store_over_source']} (pixels {got['pixels_mib']} MiB)",
            )
        )
    return rows


NOTES = (
    "Generated datasets in the exact published layouts (real sizes 264/132/44 px, SeCo uint8 "
    "JPEG, SSL4EO-S12 v1 uint16 DEFLATE GeoTIFFs, v1.1 Zarr-2 zips of 32 samples, one chunk "
    "per sample) with textured images (seeded waves + noise), not real imagery: real "
    "Sentinel-2 compresses differently. The store is lossless; SeCo's source is lossy JPEG "
    "uint8, so its store is larger than its source; SSL4EO-S12 v1 stores its 20 m and 60 m "
    "bands at 10 m after upsampling (13 full-size images per scene instead of about 5 "
    "full-size equivalents), so its store is larger too. CPU seconds count every thread of "
    "the importing process during the shard phase (reading, conversion, compression, "
    "writing); wall-clock figures were taken on a machine shared with other jobs and are "
    "noisy lower bounds."
)


def main(argv: list[str] | None = None) -> int:
    import json

    from tools.record import DOCS

    parser = argparse.ArgumentParser(prog="python -m tools.import_bench")
    parser.add_argument("--n", type=int, default=64, help="locations per format")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--tmp", default=None, help="scratch folder (default: system temp)")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    set_recording(args.record)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for fmt in args.formats.split(","):
            got = bench_import(fmt, args.n, Path(tmp))
            print(fmt, got)
            figures.update({f"import.{fmt}.{k}": v for k, v in got.items()})
    known = DOCS / "benchmarks.json"
    earlier = json.loads(known.read_text()) if known.exists() else {}
    rows = _rows({**{k: v for k, v in earlier.items() if k.startswith("import.")}, **figures})
    record(
        "import",
        "Importing published datasets (one worker)",
        f"python -m tools.import_bench --n {args.n}",
        figures,
        rows,
        notes=NOTES,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
