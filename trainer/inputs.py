"""A pre-training run's inputs, resolved once from its store: bands with their roles, input
scaling and the usable samples.

The store is opened once per process (:func:`open_inputs`); the band string is resolved once,
into :class:`BandRoles`, which the colour augmentations ask (RGB operations only on a true
red, green, blue triple); the usable samples are selected once per run, by the live-samples
rule of ``shared``: under ``torchrun`` rank 0 selects and the other ranks receive its choice
(:func:`share_samples`), so a run of many ranks costs the store one selection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from shared.layout.bands import RGB, resolve_bands
from shared.outside import checked_attrs
from shared.store.handle import Store, open_store
from shared.store.summary import live_samples
from shared.validate import ConfigValueError
from trainer.scaling import BandScaling

__all__ = ["BandRoles", "TrainInputs", "open_inputs", "selects_samples", "share_samples"]


@dataclass(frozen=True)
class BandRoles:
    """The input channels by name, in order, and which of them are red, green and blue."""

    names: tuple[str, ...]

    @property
    def rgb(self) -> tuple[int, int, int] | None:
        """Channel indices of red (B4), green (B3) and blue (B2) when the channels are exactly
        those three, in any order; None otherwise (e.g. ``B8,B4,B3``: false colour)."""
        if len(self.names) != 3 or set(self.names) != set(RGB):
            return None
        red, green, blue = (self.names.index(b) for b in RGB)
        return red, green, blue


@dataclass(frozen=True)
class TrainInputs:
    """What a run reads: the open store, its bands' roles, their scaling (None while the
    store has no band statistics), the usable samples and the store's seasons."""

    store: Store
    roles: BandRoles
    scaling: BandScaling | None
    samples: np.ndarray | None  # None: not selected here (a rank > 0 receives rank 0's)
    seasons: int

    @property
    def location(self) -> str:
        return self.store.location

    @property
    def bands(self) -> tuple[str, ...]:
        return self.roles.names


def selects_samples() -> bool:
    """True in the process that selects a run's samples: rank 0 under ``torchrun`` (its
    ``RANK`` variable), the only process otherwise."""
    return os.environ.get("RANK", "0").strip() in ("", "0")


def share_samples(inputs: TrainInputs, broadcast: Any | None) -> TrainInputs:
    """``inputs`` with rank 0's samples: ``broadcast(value)`` returns rank 0's value on every
    rank (``None``: a single process, which selects them now if not yet done)."""
    samples = inputs.samples
    if broadcast is not None:
        samples = broadcast(samples if selects_samples() else None)
    if samples is None:
        samples = live_samples(inputs.store)
    return replace(inputs, samples=np.asarray(samples, np.int64))


def open_inputs(
    location: str,
    bands: str,
    storage_options: dict[str, Any] | None = None,
    select: bool = True,
) -> TrainInputs:
    """Open the store once and resolve everything a run reads from it (``select``: also
    select the usable samples; a rank > 0 leaves that to rank 0, :func:`share_samples`).

    Raises:
        NotAStoreError: ``location`` is not a store.
        ConfigValueError: bands the store does not hold.
        DamagedShardError: a finished shard lacks an object its manifest lists.
    """
    store = open_store(location, "r", storage_options)
    checked_attrs(store)  # stats, config … of the right types before anything is built
    try:
        names = resolve_bands(bands, store.spec.bands)
    except ValueError as e:
        raise ConfigValueError("bands", str(e)) from e
    scaling = BandScaling.from_store(store, names) if "stats" in store.attrs else None
    samples = live_samples(store) if select else None  # refuses a shard with a missing object
    return TrainInputs(store, BandRoles(names), scaling, samples, store.spec.n_seasons)
