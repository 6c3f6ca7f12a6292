"""Pre-training batches from a store: seeded, resumable, read through ``shared``'s fast path.

Each global step ``s`` maps to ``(epoch, batch b)``; an epoch is a seeded permutation of the
store's valid samples; each location's seasons are drawn from a generator seeded by
``(seed, epoch, sample)``. So a batch is a pure function of the step: workers, processes and
restarts cannot change what a step sees, which makes resuming exact. Batches travel as uint16
(``(B, seasons, C, H, W)``), pinned, and are converted on the device.

From a layout-3 store with 20/60 m bands a batch carries each resolution group as it is stored
(``pixels_10m`` (B, seasons, c, H, W), ``pixels_20m`` (…, H/2, W/2), ``pixels_60m`` (…, H/6,
W/6)): 13-band batches read, decode and copy less than half the bytes, and the device brings
them to one grid (:func:`trainer.grid.to_grid`) before the crop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from shared.layout.native import group_bands
from shared.store.handle import Store, open_store
from shared.store.reader import ChunkReadError, StoreReader
from shared.store.summary import live_samples, merged_record

__all__ = ["StepPlan", "BatchSource", "batch_loader", "read_batch", "valid_samples", "PIXEL_KEYS"]

#: batch entries that hold images (moved to the device)
PIXEL_KEYS = ("pixels", "pixels_10m", "pixels_20m", "pixels_60m")


@dataclass(frozen=True)
class StepPlan:
    """Which samples and seasons every step reads, for one process of ``world``."""

    samples: np.ndarray  # valid sample indices of the store
    store_seasons: int
    seasons: int
    batch: int  # global
    seed: int
    with_replacement: bool = False
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.batch % self.world:
            raise ValueError(f"batch {self.batch} is not divisible by {self.world} processes")
        if self.samples.size < self.batch:
            raise ValueError(
                f"the store has {self.samples.size} samples, fewer than one batch ({self.batch})"
            )
        if not self.with_replacement and self.seasons > self.store_seasons:
            raise ValueError(
                f"{self.seasons} distinct seasons asked of a store with {self.store_seasons}"
            )

    @property
    def steps_per_epoch(self) -> int:
        return self.samples.size // self.batch

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.samples)

    def step(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """``(samples (b,), seasons (b, seasons))`` this process reads at global ``step``."""
        epoch, b = divmod(step, self.steps_per_epoch)
        order = self.order(epoch)
        local = self.batch // self.world
        start = b * self.batch + self.rank * local
        idx = np.sort(order[start : start + local])  # sorted: neighbours share shards
        seasons = np.stack(
            [
                np.random.default_rng([self.seed, epoch, int(i)]).choice(
                    self.store_seasons, self.seasons, replace=self.with_replacement
                )
                for i in idx
            ]
        )
        return idx, seasons


@dataclass
class BatchSource(torch.utils.data.Dataset):
    """Map-style dataset whose item ``k`` is the batch of step ``first_step + k``.

    Readers open lazily in each worker process. A sample whose chunks fail to read (bad
    checksum, truncated shard) is dropped from its batch and counted, never fatal.
    """

    location: str
    bands: tuple[str, ...]
    plan: StepPlan
    first_step: int
    last_step: int
    threads: int = 2
    storage_options: dict[str, Any] = field(default_factory=dict)
    _reader: StoreReader | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return self.last_step - self.first_step

    def reader(self) -> StoreReader:
        if self._reader is None:
            self._reader = StoreReader(
                self.location, threads=self.threads, storage_options=self.storage_options
            )
        return self._reader

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        step = self.first_step + k
        idx, seasons = self.plan.step(step)
        reader = self.reader()
        try:
            arrays = read_batch(reader, idx, seasons, self.bands)
            keep = np.ones(idx.size, bool)
        except ChunkReadError:
            arrays, keep = _read_one_by_one(reader, idx, seasons, self.bands)
        return {
            **{name: torch.from_numpy(a) for name, a in arrays.items()},
            "samples": torch.from_numpy(idx[keep]),
            "step": torch.tensor(step),
            "skipped": torch.tensor(int((~keep).sum())),
        }


def read_batch(
    reader: StoreReader, idx: np.ndarray, seasons: np.ndarray, bands: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """``{"pixels": (b, s, C, H, W)}``, or per resolution group ``{"pixels_10m": …,
    "pixels_20m": …}`` when a layout-3 store holds some of ``bands`` at 20/60 m."""
    if reader.native_layout and set(group_bands(bands)) != {"10m"}:
        native = reader.native(idx, seasons=seasons, bands=bands)
        return {f"pixels_{g}": a for g, a in native.arrays.items()}
    return {"pixels": reader.pixels(idx, seasons=seasons, bands=bands)}


def _read_one_by_one(
    reader: StoreReader, idx: np.ndarray, seasons: np.ndarray, bands: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    keep = np.ones(idx.size, bool)
    parts = []
    for i in range(idx.size):
        try:
            parts.append(read_batch(reader, idx[i : i + 1], seasons[i : i + 1], bands))
        except ChunkReadError:
            keep[i] = False
    if not parts:
        raise ChunkReadError(f"every sample of a batch is unreadable (samples {idx.tolist()})")
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}, keep


_VALID: dict[tuple[str, str], tuple[np.ndarray, int]] = {}


def valid_samples(
    location: str, storage_options: dict[str, Any] | None = None
) -> tuple[np.ndarray, int]:
    """Indices of the store's usable samples and its number of seasons.

    Refuses a shard with a missing object (:func:`~shared.store.summary.live_samples`). Kept
    per process while the store's merged summary is unchanged, so a run asks once.
    """
    store = open_store(location, "r", storage_options)
    record = merged_record(store)
    key = (store.location, json.dumps(record, sort_keys=True)) if record else None
    if key is not None and key in _VALID:
        return _VALID[key]
    out = live_samples(store), store.spec.n_seasons
    if key is not None:
        _VALID[key] = out
    return out


def batch_loader(
    store: Store,
    bands: tuple[str, ...],
    plan: StepPlan,
    first_step: int,
    last_step: int,
    workers: int,
    pin: bool,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches of steps ``first_step … last_step − 1``, in order, prefetched by ``workers``
    (each worker process opens its own reader; without workers, one reads ``store`` itself)."""
    source = BatchSource(
        store.location,
        bands,
        plan,
        first_step,
        last_step,
        storage_options=dict(store.storage_options),
    )
    if workers == 0:  # read in this process: no second open of the store
        source._reader = StoreReader(store, threads=source.threads)
    loader = torch.utils.data.DataLoader(
        source,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    return iter(loader)
