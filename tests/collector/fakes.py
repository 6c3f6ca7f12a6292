"""A scripted source for engine tests: every scene's clear fraction and failures are chosen."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from collector.sources.base import Location, Patch, PermanentError, Scene, TransientError

SIZE = 8


def location(cid: int, seasons: int = 2) -> Location:
    start = np.datetime64("2021-01-01", "D")
    windows = tuple(
        (start + np.timedelta64(90 * s, "D"), start + np.timedelta64(90 * s + 30, "D"))
        for s in range(seasons)
    )
    return Location(
        cid,
        10.0 + cid * 0.1,
        45.0,
        32632,
        (10.0, 0.0, 600000.0 + 100 * cid, 0.0, -10.0, 5000000.0),
        SIZE,
        windows,
    )


class ScriptedSource:
    """``clear[cid]`` → per season, a list of (granule %, true clear fraction) per scene.

    ``search`` reports the true clear fraction only when ``report_clear``; ``fetch`` returns a
    cloud mask with exactly that clear fraction. ``transient[cid]`` failures come first on
    each call kind; ``permanent`` candidates always fail.
    """

    name = "scripted"
    synthetic = True
    collection = "L1C"
    bands = ("B4", "B3")

    def __init__(self, clear, report_clear=True, transient=None, permanent=()):
        self.clear = clear
        self.report_clear = report_clear
        self.transient = dict(transient or {})
        self.permanent = set(permanent)
        self.calls: list[tuple[str, int]] = []

    def _maybe_fail(self, kind: str, cid: int) -> None:
        self.calls.append((kind, cid))
        if cid in self.permanent:
            raise PermanentError(f"candidate {cid} has no data")
        left = self.transient.get((kind, cid), 0)
        if left:
            self.transient[(kind, cid)] = left - 1
            raise TransientError("429 Too Many Requests")

    def search(self, loc: Location) -> list[list[Scene]]:
        self._maybe_fail("search", loc.candidate_id)
        out = []
        for s, scenes in enumerate(self.clear[loc.candidate_id]):
            out.append(
                [
                    Scene(
                        f"S{loc.candidate_id}_{s}_{k}",
                        loc.windows[s][0].astype("datetime64[ms]") + np.timedelta64(5 * k, "D"),
                        s,
                        granule,
                        clear if self.report_clear else None,
                    )
                    for k, (granule, clear) in enumerate(scenes)
                ]
            )
        return out

    def fetch(self, loc: Location, scenes: Sequence[Scene]) -> Patch:
        self._maybe_fail("fetch", loc.candidate_id)
        n = len(scenes)
        pixels = np.zeros((n, len(self.bands), SIZE, SIZE), np.uint16)
        cloud = np.zeros((n, SIZE, SIZE), np.uint8)
        for i, sc in enumerate(scenes):
            k = int(sc.id.rsplit("_", 1)[1])
            clear = self.clear[loc.candidate_id][sc.season][k][1]
            cloudy = SIZE * SIZE - int(round(clear * SIZE * SIZE))
            cloud.reshape(n, -1)[i, :cloudy] = 90
            pixels[i] = loc.candidate_id * 100 + sc.season * 10 + k + 1
        return Patch(pixels, cloud, tuple(scenes))
