"""``python -m tools.trainer_bench --store STORE``: can data loading keep up with the GPU? Figures go to docs/.

P1 — the training-step ceiling on ready tensors (the trainer's own step code: bf16,
channels_last, optionally compiled) and the full pipeline from a store on local disk, their
ratio per band set. P2 — the store reader alone, locations/s on one core (3 distinct seasons,
random order, decode included) and the codec's decode bound for exactly the same bytes.
On a machine without CUDA only P2 and a small CPU reference of P1 are measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numcodecs.blosc
import numpy as np
import torch

from shared.cli import OneLineParser
from shared.layout.native import group_bands
from shared.store.reader import StoreReader
from shared.store.shards import EMPTY
from tools.record import add_record_flag, one_core, record, set_recording
from trainer.data import read_batch, valid_samples

__all__ = ["BAND_SETS", "bench_reader", "bench_ceiling", "bench_pipeline", "run"]

BAND_SETS = ("rgb", "all")
"""The band sets P1 and P2 measure: RGB (B4, B3, B2) and all bands of the store."""


def measured_run(store: str, out: str, **settings: Any) -> Any:  # -> PretrainConfig
    """The configuration of a measured pre-training run: every step logged, no checkpoint
    before the end, no progress bar; ``settings`` as in :class:`trainer.config.PretrainConfig`."""
    from trainer.config import PretrainConfig

    quiet: dict[str, Any] = {"log_every": 1, "checkpoint_every": 10**9, "progress": False}
    return PretrainConfig(store=store, out=out, **quiet, **settings)


def _draws(location: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    samples, n_seasons = valid_samples(location)
    rng = np.random.default_rng(seed)
    idx = rng.choice(samples, size=min(n, samples.size), replace=False)
    seasons = np.stack([rng.choice(n_seasons, 3, replace=False) for _ in idx])
    return idx, seasons


def bench_reader(
    location: str, bands: list[str], n: int = 300, repeats: int = 5
) -> dict[str, float]:
    """Reader and decode bound in locations/s on one core (one location per call), medians.

    ``ratio`` is the median of the per-repeat ratios (each repeat times both back to back).
    """
    with one_core():
        return _reader_rates(location, bands, n, repeats)


def _reader_rates(location: str, bands: list[str], n: int, repeats: int) -> dict[str, float]:
    idx, seasons = _draws(location, n)
    reader = StoreReader(location, threads=1)
    names = tuple(reader.spec.bands[i] for i in reader.band_indices(bands))
    blobs = _chunk_bytes(reader, bands, idx, seasons)
    out = np.empty(reader.spec.size * reader.spec.size, np.uint16)
    rates, bounds = [], []
    # reader and bound alternate, so that both see the same machine (a shared VM drifts)
    for _ in range(repeats):
        reader.close()
        reader = StoreReader(location, threads=1)  # cold shard-index and file caches each time
        t = time.perf_counter()
        for i, s in zip(idx, seasons, strict=True):  # what a training batch reads
            read_batch(reader, np.array([i]), s[None, :], names)
        rates.append(idx.size / (time.perf_counter() - t))
        t = time.perf_counter()
        for blob, n_pixels in blobs:  # the same compressed chunks, in memory, only decompressed
            numcodecs.blosc.decompress(blob, out[:n_pixels])
        bounds.append(idx.size / (time.perf_counter() - t))
    reader.close()
    return {
        "reader": statistics.median(rates),
        "bound": statistics.median(bounds),
        "ratio": statistics.median(r / b for r, b in zip(rates, bounds, strict=True)),
    }


def _chunk_bytes(
    reader: StoreReader, bands: list[str], idx: np.ndarray, seasons: np.ndarray
) -> list[tuple[memoryview, int]]:
    """The compressed bytes (crc32c stripped) and pixel count of every image chunk the reader
    will fetch
    (layout 3: in each resolution group's own array, at its own size)."""
    names = [reader.spec.bands[i] for i in reader.band_indices(bands)]
    if reader.native_layout:
        wanted = [
            (f"pixels_{g}", [reader.spec.groups[g].index(b) for b in bs])
            for g, bs in group_bands(names).items()
        ]
    else:
        wanted = [("pixels", [reader.spec.bands.index(b) for b in names])]
    blobs = []
    for name, positions in wanted:
        arr = reader._arrays[name]
        if arr is None:
            raise ValueError("the store's pixels are not in the layout's sharded format")
        for i, s in zip(idx, seasons, strict=True):
            shard = (int(i) // arr.layout.shard[0], 0, 0, 0, 0)
            index = arr.index(shard)
            if index is None:
                continue
            for season in s:
                for b in positions:
                    off, nb = index[(int(i) % arr.layout.shard[0], int(season), int(b), 0, 0)]
                    if off != EMPTY:
                        raw = arr.src.read(arr.shard_key(shard), int(off), int(nb))
                        if raw is not None:
                            view = memoryview(raw)[: -4 if arr.layout.chunk_crc else None]
                            blobs.append((view, int(np.prod(arr.layout.inner[-2:]))))
    return blobs


def _views(
    objective: str, batch: int, chans: int, size: int, device: torch.device, channels_last: bool
) -> dict[str, torch.Tensor]:
    from trainer.objectives import objective_named

    names = objective_named(objective).view_names
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return {
        n: torch.randn(batch, chans, size, size, device=device).contiguous(memory_format=fmt)
        for n in names
    }


def bench_ceiling(
    arch: str,
    chans: int,
    batch: int,
    size: int,
    steps: int,
    compile: bool,
    device: torch.device,
    objective: str = "seco",
) -> float:
    """Locations/s of the training step alone, on random tensors already on the device."""
    from trainer.methods import ContrastiveModel
    from trainer.step import autocast_for, train_step

    cuda = device.type == "cuda"
    model = ContrastiveModel(arch, chans, objective, queue_size=16384).to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(
        model.encoder.parameters(),
        lr=0.03,
        momentum=0.9,
        weight_decay=1e-4,
        **({"fused": True} if cuda else {}),
    )
    encode: Any = torch.compile(model.encoder) if compile else model.encoder
    keys: Any = torch.compile(model.momentum_encoder) if compile else model.momentum_encoder
    views = _views(objective, batch, chans, size, device, cuda)
    autocast = autocast_for(device, None)  # bf16 on CUDA, float32 on the CPU
    warm = 3 if not compile else 8
    for _ in range(warm):
        train_step(model, views, opt, 0.03, encode, keys, autocast)
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        train_step(model, views, opt, 0.03, encode, keys, autocast)
    if cuda:
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t)


def bench_pipeline(
    store: str,
    arch: str,
    bands: str,
    batch: int,
    size: int,
    steps: int,
    compile: bool,
    workers: int,
    out: str,
) -> float:
    """Locations/s of the real training loop from ``store`` (first steps excluded)."""
    import csv
    import shutil

    from trainer.loop import pretrain

    shutil.rmtree(out, ignore_errors=True)
    warm = max(5, steps // 5)
    settings = {"arch": arch, "bands": bands, "batch": batch, "size": size, "workers": workers}
    cfg = measured_run(store, out, steps=warm + steps, compile=compile, **settings)
    pretrain(cfg, log=lambda s: None)
    with open(f"{out}/log.csv") as f:
        rows = list(csv.DictReader(f))
    # rows carry the cumulative rate since the first step; recover the rate of the measured
    # steps: locations seen / time, both from the cumulative figures
    seen = [int(r["step"]) * batch for r in rows]
    elapsed = [s / float(r["locations_per_s"]) for s, r in zip(seen, rows, strict=True)]
    return (seen[-1] - seen[warm - 1]) / (elapsed[-1] - elapsed[warm - 1])


def run(
    store: str,
    arch: str,
    batch: int,
    size: int,
    steps: int,
    compile: bool,
    workers: int,
    reader_locations: int,
    docs: Any = None,
    workdir: str = "runs",
    bands: Sequence[str] = BAND_SETS,
) -> dict[str, Any]:
    """Measure what this machine can and record it in ``docs`` (default docs/benchmarks.*).

    ``arch`` is one timm name or a comma list (each gets P1 for every band set in ``bands``,
    ``rgb`` and/or ``all``); ``reader_locations`` 0 skips P2. On CUDA every architecture is
    recorded in its own section, so a ResNet-18 run does not replace the ResNet-50 figures (on
    the CPU the first architecture keeps the one ``trainer_bench`` section, the others get
    their own).

    Raises:
        ValueError: an unknown band set or an empty architecture list.
    """
    archs = [a.strip() for a in arch.split(",") if a.strip()]
    unknown = sorted(set(bands) - set(BAND_SETS))
    if not archs or unknown or not bands:
        raise ValueError(
            f"bench needs architectures and band sets from {', '.join(BAND_SETS)}, got "
            f"arch={arch!r}, bands={list(bands)!r}"
        )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    figures: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if cuda else "cpu"}
    from shared.store.handle import open_store

    spec = open_store(store).spec
    band_lists = {"rgb": ["B4", "B3", "B2"], "all": list(spec.bands)}
    p2_table = []
    if reader_locations > 0:
        for name in bands:
            r = bench_reader(store, band_lists[name], n=reader_locations)
            figures[f"p2_reader_{name}_loc_s_per_core"] = round(r["reader"], 1)
            figures[f"p2_decode_bound_{name}_loc_s_per_core"] = round(r["bound"], 1)
            figures[f"p2_reader_{name}_fraction_of_bound"] = round(r["ratio"], 3)
            p2_table.append(
                (
                    f"P2 reader, {name} ({len(band_lists[name])} bands × 3 seasons × "
                    f"{spec.size}²), one core",
                    f"{r['reader']:.1f} locations/s = {r['ratio']:.2f} of the decode bound "
                    f"({r['bound']:.1f})",
                )
            )
    for i, one in enumerate(archs):
        table = p2_table if i == 0 else []
        p1 = _p1(store, one, batch, size, steps, compile, workers, workdir, bands, spec, device)
        figures.update(p1[0])
        table += p1[1]
        section = (
            f"trainer_bench_cuda_{_tag(one)}"
            if cuda
            else ("trainer_bench" if i == 0 else f"trainer_bench_{_tag(one)}")
        )
        title = f"Trainer data path on {figures['device']}" + (f", {one}" if cuda or i else "")
        command = (
            f"python -m tools.trainer_bench --store {store} --arch {one} --batch {batch} --size {size} "
            f"--steps {steps}{' --compile' if compile else ''}"
            + (f" --bands {','.join(bands)}" if tuple(bands) != BAND_SETS else "")
            + ("" if i == 0 and reader_locations > 0 else " --reader-locations 0")
        )
        record(section, title, command, {**figures}, table, _notes(cuda), docs=docs)
    return figures


def _tag(arch: str) -> str:
    return arch.replace("/", "_")


def _p1(
    store: str,
    arch: str,
    batch: int,
    size: int,
    steps: int,
    compile: bool,
    workers: int,
    workdir: str,
    bands: Sequence[str],
    spec: Any,
    device: torch.device,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """P1 of one architecture: (figures, table rows)."""
    cuda = device.type == "cuda"
    tag = _tag(arch)
    figures: dict[str, Any] = {}
    table = []
    for name in bands:
        chans = 3 if name == "rgb" else spec.n_bands
        ceiling = bench_ceiling(arch, chans, batch, size, steps, compile, device)
        pipeline = bench_pipeline(
            store, arch, name, batch, size, steps, compile, workers, f"{workdir}/bench-{name}"
        )
        ratio = pipeline / ceiling
        if cuda:
            figures[f"p1_ceiling_{tag}_{name}_loc_s"] = round(ceiling, 1)
            figures[f"p1_pipeline_{tag}_{name}_loc_s"] = round(pipeline, 1)
            figures[f"p1_ratio_{tag}_{name}"] = round(ratio, 3)
        else:
            figures[f"cpu_reference_ceiling_{tag}_{name}_loc_s"] = round(ceiling, 2)
            figures[f"cpu_reference_pipeline_{tag}_{name}_loc_s"] = round(pipeline, 2)
        table.append(
            (
                f"P1 {'' if cuda else 'CPU reference: '}{arch} {name}, batch {batch}, {size} px"
                f"{', compiled' if compile else ''}",
                f"ceiling {ceiling:.1f}, pipeline {pipeline:.1f} locations/s, ratio {ratio:.2f}",
            )
        )
    if not cuda:
        for key in (
            "p1_ratio_resnet50_rgb",
            "p1_ratio_resnet50_all",
            "p1_ceiling_resnet50_rgb_loc_s",
            "p1_pipeline_resnet50_rgb_loc_s",
        ):
            figures.setdefault(key, None)
    return figures, table


def _notes(cuda: bool) -> str:
    notes = (
        "P1 compares the same step code on ready tensors (ceiling) and fed from the store "
        "(pipeline) in one run. P2's bound decompresses the very chunks the reader fetched, "
        "already in memory."
    )
    if not cuda:
        notes += (
            " No CUDA device on this machine: the P1 targets (ResNet-50, batch 256, 224 px on an "
            "H100) are not measured here; the CPU reference only shows the code path runs."
        )
    return notes


def _bench(args: argparse.Namespace) -> int:
    import torch

    set_recording(args.record)

    from trainer.config import PretrainConfig, check_against_store

    cuda = torch.cuda.is_available()
    cfg = PretrainConfig(
        store=args.store,
        arch=args.arch or ("resnet50" if cuda else "resnet18"),
        batch=args.batch or (256 if cuda else 16),
        size=args.size or (224 if cuda else 64),
        steps=args.steps or (50 if cuda else 4),
        workers=args.workers,
    )
    check_against_store(cfg, check_batch=False)
    figures = run(
        args.store,
        cfg.arch,
        cfg.batch,
        cfg.size,
        int(cfg.steps or 1),
        args.compile,
        args.workers,
        args.reader_locations,
        bands=[b.strip() for b in args.bands.split(",") if b.strip()],
        docs=Path(args.docs) if args.docs else None,
    )
    print("  ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The bench's flags: store, architectures, batch, size, steps, reader sample."""
    p = OneLineParser(prog="python -m tools.trainer_bench", description=__doc__)
    p.add_argument("--store", required=True)
    p.add_argument("--arch", default=None, help="timm name or comma list (default per device)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--reader-locations", type=int, default=300, help="P2 sample size; 0 skips P2")
    p.add_argument("--bands", default="rgb,all", help="band sets of P1 and P2: rgb, all or both")
    p.add_argument(
        "--docs",
        default=None,
        help="folder of benchmarks.{md,json} to write (default: docs/ with --record, else none)",
    )
    add_record_flag(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer bench; user mistakes print one line, never a traceback."""
    from trainer.cli import run_parsed

    return run_parsed(build_parser(), argv, _bench)


if __name__ == "__main__":
    sys.exit(main())
