"""Downstream tasks drawn from a synthetic-world store that keeps its ground truth.

* **land cover** — one image per location, of one season drawn per location (seeded), so
  season is a nuisance a good representation ignores; the label is the majority land-cover
  class of that image (``multilabel``: every class covering ≥ 10 % of it).
* **season** (season-variant) — the same one image per location, labelled with the
  meteorological season of its acquisition date (winter DJF, spring MAM, summer JJA, autumn SON;
  shifted by half a year south of the equator, so it names the phenological stage): a
  representation good for this must keep what land cover throws away.
* **change** — for each location the first and the last season, and the mask of pixels whose
  land cover differs between them (about a quarter of the synthetic locations carry a change
  event: new urban area, clearing, cultivation, flooding).

Use a store of locations held out from pre-training (another region), made with
``python -m collector collect … --source synthetic --truth``. Splits are seeded 60/20/20 and
stored beside the results so every encoder is judged on the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from shared.layout.bands import resolve_bands
from shared.store.handle import open_store
from shared.store.reader import StoreReader
from shared.store.summary import live_samples
from trainer.evaluate.splits import stored_split, stratified_split

#: how 20/60 m bands of a layout-3 store reach the 10 m grid: as pre-training does on the
#: device (trainer.grid.to_grid), bilinear, area-aligned
RESAMPLE = "bilinear"

__all__ = [
    "SyntheticLandcover",
    "SyntheticSeason",
    "SyntheticChange",
    "PRESENCE_THRESHOLD",
    "SEASONS",
]

SEASONS = ("winter", "spring", "summer", "autumn")

PRESENCE_THRESHOLD = 0.10


def _live(
    location: str, storage_options: dict[str, Any] | None = None
) -> tuple[np.ndarray, StoreReader]:
    store = open_store(location, "r", storage_options)
    if not store.spec.has_truth:
        raise ValueError(
            f"{location} has no ground truth: collect it with --source synthetic --truth"
        )
    live = live_samples(store)  # refuses a finished shard with a missing object
    return live, StoreReader(store, threads=2)


@dataclass
class _TruthTask:
    """A task read from a store with ground truth: where, which bands, its split file."""

    location: str
    bands: tuple[str, ...]
    splits_file: Path
    seed: int = 0
    storage_options: dict[str, Any] | None = field(default=None, repr=False)

    def _open(self) -> Any:  # -> StoreSpec
        """Read the live samples, open a reader, resolve the bands; the store's spec."""
        self.samples, self.reader = _live(self.location, self.storage_options)
        self.bands = resolve_bands(list(self.bands), self.reader.spec.bands)
        return self.reader.spec


@dataclass
class SyntheticLandcover(_TruthTask):
    """Scene classification by majority land cover (or multi-label presence)."""

    multilabel: bool = False
    classes: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        spec = self._open()
        self.classes = spec.truth_classes
        rng = np.random.default_rng([self.seed, 7])
        self.season = rng.integers(0, spec.n_seasons, self.samples.size)
        cover = np.stack(
            [
                np.bincount(self.reader.landcover([s], seasons=[t])[0, 0].ravel(), minlength=256)[
                    : len(self.classes)
                ]
                for s, t in zip(self.samples, self.season, strict=True)
            ]
        ).astype(np.float64)
        self.fractions = cover / np.maximum(cover.sum(axis=1, keepdims=True), 1)
        self.majority = self.fractions.argmax(axis=1)
        keys = [str(s) for s in self.samples]
        self.split = stored_split(
            Path(self.splits_file),
            lambda: stratified_split(keys, self._strata().tolist(), seed=self.seed),
        )
        self._index = {k: i for i, k in enumerate(keys)}

    def _strata(self) -> np.ndarray:
        """The labels the split is stratified by."""
        return self.majority

    def __len__(self) -> int:
        return int(self.samples.size)

    def image(self, i: int) -> np.ndarray:
        """(C, H, W) uint16 DN of location ``i`` at its drawn season."""
        return self.reader.pixels(
            [self.samples[i]], seasons=[int(self.season[i])], bands=self.bands, resample=RESAMPLE
        )[0, 0]

    def images(self, idx: np.ndarray) -> np.ndarray:
        """(n, C, H, W) uint16 for several locations at once (one batched read)."""
        seasons = self.season[idx][:, None]
        return self.reader.pixels(
            self.samples[idx], seasons=seasons, bands=self.bands, resample=RESAMPLE
        )[:, 0]

    def label(self, i: int) -> int:
        return int(self.majority[i])

    def labels(self, idx: np.ndarray) -> np.ndarray:
        """(n,) class indices, or (n, K) bool presence when ``multilabel``."""
        if self.multilabel:
            return self.fractions[idx] >= PRESENCE_THRESHOLD
        return self.majority[idx]

    def indices(self, split: str) -> np.ndarray:
        return np.array(sorted(self._index[k] for k in self.split[split]), dtype=np.int64)


class SyntheticSeason(SyntheticLandcover):
    """Scene classification by the season of the image's acquisition date (season-variant)."""

    def __post_init__(self) -> None:
        self.multilabel = False
        super().__post_init__()
        self.classes = SEASONS

    def _strata(self) -> np.ndarray:
        return self.stage

    @cached_property
    def stage(self) -> np.ndarray:
        """(n,) season index of each location's drawn image, whether or not the split was
        already stored (the split is drawn once; the labels are needed on every opening)."""
        store = self.reader.store
        times = _datetimes(store.array("time"))[self.samples, self.season]
        lat = np.asarray(store.array("lat")[:], dtype=np.float64)[self.samples]
        month = times.astype("datetime64[M]").astype(np.int64) % 12  # 0 = January
        north = (month + 1) % 12 // 3  # 0 DJF, 1 MAM, 2 JJA, 3 SON
        return np.where(lat < 0, (north + 2) % 4, north).astype(np.int64)

    def label(self, i: int) -> int:
        return int(self.stage[i])

    def labels(self, idx: np.ndarray) -> np.ndarray:
        """(n,) season indices into :data:`SEASONS`."""
        return self.stage[idx]


def _datetimes(array) -> np.ndarray:  # zarr.Array -> datetime64[ms]
    """The store's ``time`` as datetime64: stored as int64 milliseconds since 1970 (its
    ``units`` attribute), or already as datetime64."""
    raw = np.asarray(array[:])
    if np.issubdtype(raw.dtype, np.datetime64):
        return raw.astype("datetime64[ms]")
    units = str(array.attrs.get("units", "milliseconds since 1970-01-01"))
    if not units.startswith("milliseconds since 1970-01-01"):
        raise ValueError(f"time stored in {units!r}: expected milliseconds since 1970-01-01")
    return raw.astype(np.int64).astype("datetime64[ms]")


@dataclass
class SyntheticChange(_TruthTask):
    """Bi-temporal change detection: first vs last season of each location."""

    def __post_init__(self) -> None:
        spec = self._open()
        self.last = spec.n_seasons - 1
        changed = [self._changed(int(s)) for s in self.samples]
        keys = [str(s) for s in self.samples]
        self.split = stored_split(
            Path(self.splits_file),
            lambda: stratified_split(keys, [int(c) for c in changed], seed=self.seed),
        )
        self._index = {k: i for i, k in enumerate(keys)}
        self.changed = np.asarray(changed)

    def _changed(self, sample: int) -> bool:
        cover = self.reader.landcover([sample], seasons=[0, self.last])[0]
        return bool(np.any(cover[0] != cover[1]))

    def __len__(self) -> int:
        return int(self.samples.size)

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(before (C,H,W) uint16, after (C,H,W) uint16, change (H,W) bool)``."""
        s = self.samples[i]
        pixels = self.reader.pixels(
            [s], seasons=[0, self.last], bands=self.bands, resample=RESAMPLE
        )[0]
        cover = self.reader.landcover([s], seasons=[0, self.last])[0]
        return pixels[0], pixels[1], cover[0] != cover[1]

    def name(self, i: int) -> str:
        return f"sample-{int(self.samples[i])}"

    def indices(self, split: str) -> np.ndarray:
        return np.array(sorted(self._index[k] for k in self.split[split]), dtype=np.int64)
