"""``SOURCE=emulated``: a stand-in for a remote API that only waits, to measure the engine.

Every request sleeps ``latency_s`` and costs no computation: search answers one clear scene
per window, fetch answers constant pixels. With it, collection throughput shows what the
engine's concurrency achieves against a quota bound, free of any source's CPU time. Its
stores are labelled synthetic like everything generated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from collector.sources.base import Location, Patch, Scene
from collector.sources.facts import RuntimeDefaults, SourceFacts
from shared.layout.bands import band_names

__all__ = ["EmulatedSource"]


class EmulatedSource:
    """Waits ``latency_s`` per request; one clear scene per window; constant DN 1000."""

    name = "emulated"
    synthetic = True
    facts = SourceFacts(
        synthetic=True, levels=("L1C", "L2A"), runtime=RuntimeDefaults(40, None, 16, 4)
    )

    def __init__(
        self,
        collection: str = "L1C",
        bands: Sequence[str] | None = None,
        granule_cloud_max: float = 20.0,
        latency_s: float = 0.5,
    ) -> None:
        if latency_s < 0:
            raise ValueError(f"latency_s must be ≥ 0, got {latency_s}")
        self.collection = collection
        self.bands = tuple(bands) if bands else band_names(collection)
        self.granule_cloud_max = granule_cloud_max
        self.latency_s = float(latency_s)

    def search(self, location: Location) -> list[list[Scene]]:
        time.sleep(self.latency_s)
        return [
            [
                Scene(
                    f"EMU_{location.candidate_id}_{s}",
                    np.datetime64(
                        int(np.asarray(start).astype("datetime64[ms]").astype(np.int64))
                        + 5 * 86_400_000,
                        "ms",
                    ),
                    s,
                    0.0,
                    1.0,
                )
            ]
            for s, (start, _end) in enumerate(location.windows)
        ]

    def fetch(self, location: Location, scenes: Sequence[Scene]) -> Patch:
        time.sleep(self.latency_s)
        n, size = len(scenes), location.size
        pixels = np.full((n, len(self.bands), size, size), 1000, np.uint16)
        return Patch(pixels, np.zeros((n, size, size), np.uint8), tuple(scenes))
