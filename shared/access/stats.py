"""Per-band statistics of a store, for normalisation: mean, std and the 2nd/98th percentiles.

Computed from a seeded subset of samples (all seasons, every pixel that holds data, clouds
included: that is what a model sees), exactly: percentiles come from full uint16 histograms.
Stored in the root attribute ``stats`` so that pretraining and every evaluation normalise the
same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shared.store.handle import Store
from shared.store.reader import StoreReader
from shared.store.summary import live_samples

__all__ = ["compute_stats", "read_stats"]


def compute_stats(
    store: Store,
    max_samples: int = 512,
    seed: int = 0,
    threads: int = 2,
    live: np.ndarray | None = None,
) -> dict[str, Any]:
    """Statistics over up to ``max_samples`` valid samples (chosen with ``seed``); ``live``:
    the store's live samples, if already known."""
    spec = store.spec
    if live is None:
        live = live_samples(store)
    if live.size == 0:
        raise ValueError(f"{store.location}: no samples to compute statistics from")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(live, size=min(max_samples, live.size), replace=False))
    hist = np.zeros((spec.n_bands, 65536), np.int64)
    with StoreReader(store, threads=threads) as reader:
        for start in range(0, chosen.size, 16):
            picked = chosen[start : start + 16]
            if reader.native_layout:  # each sensor pixel once, at its native resolution
                native = reader.native(picked)
                for b, name in enumerate(spec.bands):
                    hist[b] += np.bincount(native.band(name).ravel(), minlength=65536)
                continue
            block = reader.pixels(picked)  # (n, S, B, H, W)
            for b in range(spec.n_bands):
                hist[b] += np.bincount(block[:, :, b].ravel(), minlength=65536)
    hist[:, 0] = 0  # 0 is no data
    values = np.arange(65536, dtype=np.float64)
    count = hist.sum(axis=1)
    safe = np.maximum(count, 1)
    mean = (hist * values).sum(axis=1) / safe
    var = (hist * values**2).sum(axis=1) / safe - mean**2
    cdf = np.cumsum(hist, axis=1) / safe[:, None]
    p2 = np.argmax(cdf >= 0.02, axis=1)
    p98 = np.argmax(cdf >= 0.98, axis=1)
    return {
        "bands": list(spec.bands),
        "mean": [round(float(v), 3) for v in mean],
        "std": [round(float(v), 3) for v in np.sqrt(np.maximum(var, 0))],
        "p2": [int(v) for v in p2],
        "p98": [int(v) for v in p98],
        "samples_used": int(chosen.size),
        "pixels_per_band": [int(c) for c in count],
        "method": "all pixels with data (DN > 0) of all seasons of a seeded sample subset",
    }


def read_stats(
    store: Store, bands: list[str] | tuple[str, ...] | None = None
) -> dict[str, np.ndarray]:
    """``{"mean", "std", "p2", "p98"}`` arrays for ``bands`` (default all) from the store."""
    from shared.errors import AttributeTypeError
    from shared.outside import check_store_attrs

    stats = store.attrs.get("stats")
    if not stats:
        raise KeyError(f"{store.location} has no statistics yet (run finalize)")
    stats = check_store_attrs({"stats": stats}, str(store.location))["stats"]
    missing = [b for b in (bands or stats["bands"]) if b not in stats["bands"]]
    if missing:
        raise AttributeTypeError(
            str(store.location),
            f"attribute stats has no band {missing[0]} (it lists {stats['bands']})",
        )
    order = [stats["bands"].index(b) for b in (bands or stats["bands"])]
    return {k: np.asarray(stats[k], np.float64)[order] for k in ("mean", "std", "p2", "p98")}
