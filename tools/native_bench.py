"""Layout 3 (native resolution) figures: bytes per location, Earth Engine payload, reader rate.

    python -m tools.native_bench collect --out datasets/native      # 3 synthetic stores
    python -m tools.native_bench bytes STORE [STORE …] [--geotiff]  # any layout
    python -m tools.native_bench ee                                   # computePixels payload
    python -m tools.native_bench reader STORE --bands rgb,all        # locations/s per core

``collect`` runs ``collect --source synthetic --region europe --n 32 --seed 0 --size 264``
for RGB, the four 10 m bands and all 13 (L1C). ``bytes`` sums the objects of each image array
per location with data (pixels + cloud, the figure of issue 26) and, with ``--geotiff``, the
deflate GeoTIFFs ``export-geotiff`` writes of the same pixels (native resolution in layout 3).
Figures print as JSON; ``--record`` also merges them into docs/benchmarks.* (section
``native_layout``). Run a layout-2 baseline with an older checkout's code on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["collect_stores", "store_bytes", "ee_payload", "reader_rates"]

BAND_SETS = {"rgb": "l1c:B4,B3,B2", "10m": "l1c:B2,B3,B4,B8", "all": "l1c"}


def collect_stores(out: Path, n: int = 32, seed: int = 0, size: int = 264) -> dict[str, str]:
    """One synthetic collection per band set under ``out``; returns their paths."""
    from collector.cli import main

    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, bands in BAND_SETS.items():
        path = out / f"{name}.zarr"
        if not path.exists():
            argv = ["collect", "--source", "synthetic", "--region", "europe", "--n", str(n)]
            argv += ["--seed", str(seed), "--size", str(size), "--bands", bands]
            argv += ["--scheduler", "threads", "--workers", "2", "--no-progress"]
            if main([*argv, "--out", str(path)]) != 0:
                raise RuntimeError(f"collect {bands} failed")
        paths[name] = str(path)
    return paths


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def store_bytes(location: str, geotiff: bool = False) -> dict[str, Any]:
    """Bytes per location with data: each pixel array, cloud, and their sum (any layout)."""
    from shared.store.handle import open_store

    store = open_store(location)
    root = Path(location)
    n = int(np.asarray(store.array("valid")[:]).sum())
    arrays = sorted(p.name for p in root.iterdir() if p.name.startswith("pixels"))
    out: dict[str, Any] = {"layout": store.layout_version, "locations": n}
    pixels = 0
    for name in arrays:
        b = _dir_bytes(root / name)
        out[f"{name}_bytes_per_location"] = round(b / n)
        pixels += b
    cloud = _dir_bytes(root / "cloud")
    out["pixels_bytes_per_location"] = round(pixels / n)
    out["cloud_bytes_per_location"] = round(cloud / n)
    out["pixels_and_cloud_mb_per_location"] = round((pixels + cloud) / n / 1e6, 3)
    if geotiff:
        from shared.access.geotiff import export_geotiffs

        samples = [int(i) for i in np.flatnonzero(np.asarray(store.array("valid")[:]))]
        with tempfile.TemporaryDirectory() as tmp:
            paths = export_geotiffs(location, samples, tmp)
            tif = sum(p.stat().st_size for p in paths)
        out["geotiff_deflate_bytes_per_location"] = round(tif / n)
        out["geotiff_deflate_mb_per_location"] = round(tif / n / 1e6, 3)
    return out


def ee_payload(size: int = 264, seasons: int = 4) -> dict[str, Any]:
    """Requests and answer bytes of one 13-band location through the offline Earth Engine
    endpoint (one ``computePixels`` on the 10 m grid), and the NPY size the same pixels take
    when asked per resolution group (three requests: 10 m, 20 m, 60 m grids)."""
    from collector.sources.earthengine import server as fake
    from collector.sources.earthengine.auth import ENV_KEY
    from collector.sources.earthengine.source import EarthEngineSource
    from shared.layout.grid import PatchGrid
    from shared.layout.native import BandImages

    sizes: list[int] = []
    real = fake.FakeEarthEngine.compute_pixels

    def counted(self: Any, body: dict[str, Any]) -> tuple[int, bytes, str]:
        status, payload, kind = real(self, body)
        sizes.append(len(payload))
        return status, payload, kind

    fake.FakeEarthEngine.compute_pixels = counted  # type: ignore[method-assign]
    server = fake.FakeEarthEngine()
    saved = os.environ.get(ENV_KEY)
    os.environ[ENV_KEY] = json.dumps(server.service_account_key())
    try:
        from collector.sources.base import Location

        grid = PatchGrid.from_center(7.26, 43.70, size)
        first = np.datetime64("2021-06", "M")
        windows = tuple(
            ((first + 3 * s).astype("datetime64[D]"), (first + 3 * s + 1).astype("datetime64[D]"))
            for s in range(seasons)
        )
        loc = Location(0, 7.26, 43.70, grid.epsg, grid.transform, size, windows)
        src = EarthEngineSource("L1C", url=server.url, project="bench", deadline_s=30.0)
        found = src.search(loc)
        patch = src.fetch(loc, [w[0] for w in found])
        requests = len(server.api_calls())
    finally:
        fake.FakeEarthEngine.compute_pixels = real  # type: ignore[method-assign]
        server.close()
        if saved is None:
            os.environ.pop(ENV_KEY, None)
        else:
            os.environ[ENV_KEY] = saved
    if not isinstance(patch.pixels, BandImages):
        raise RuntimeError(f"size {size} does not divide into 20/60 m pixels")
    groups = patch.pixels.arrays
    per_group = 0
    for g, a in groups.items():
        side = a.shape[-1]
        fields = [(f"s{i}_b{j}", "<u2") for i in range(a.shape[0]) for j in range(a.shape[1])]
        if g == "10m":
            fields += [(f"s{i}_cloud", "u1") for i in range(a.shape[0])]
        buf = io.BytesIO()
        np.save(buf, np.zeros((side, side), dtype=fields), allow_pickle=False)
        per_group += len(buf.getvalue())
    return {
        "ee_requests_per_location": requests,  # search (value:compute) + computePixels
        "ee_compute_pixels_bytes": sizes[-1],
        "ee_per_group_npy_bytes": per_group,
        "stored_native_bytes_uncompressed": int(sum(a.nbytes for a in groups.values())),
    }


def reader_rates(location: str, band_sets: Sequence[str], n: int, repeats: int) -> dict[str, Any]:
    """Locations/s on one core reading what a training batch reads (tools.trainer_bench P2)."""
    from shared.store.handle import open_store
    from tools.trainer_bench import bench_reader

    spec = open_store(location).spec
    lists = {"rgb": ["B4", "B3", "B2"], "all": list(spec.bands)}
    out: dict[str, Any] = {}
    for name in band_sets:
        r = bench_reader(location, lists[name], n=n, repeats=repeats)
        out[f"reader_{name}_loc_s_per_core"] = round(r["reader"], 1)
        out[f"decode_bound_{name}_loc_s_per_core"] = round(r["bound"], 1)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.native_bench", description=__doc__)
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--out", default="datasets/native-bench")
    c.add_argument("--n", type=int, default=32)
    b = sub.add_parser("bytes")
    b.add_argument("stores", nargs="+")
    b.add_argument("--geotiff", action="store_true")
    sub.add_parser("ee")
    r = sub.add_parser("reader")
    r.add_argument("store")
    r.add_argument("--bands", default="rgb,all")
    r.add_argument("--n", type=int, default=100)
    r.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    result: Any
    if args.what == "collect":
        result = collect_stores(Path(args.out), n=args.n)
    elif args.what == "bytes":
        result = {s: store_bytes(s, args.geotiff) for s in args.stores}
    elif args.what == "ee":
        result = ee_payload()
    else:
        result = reader_rates(args.store, args.bands.split(","), args.n, args.repeats)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
