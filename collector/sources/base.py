"""The one protocol every Sentinel-2 source implements, and the records it exchanges.

A source answers two questions for a planned location:

1. :meth:`Source.search` — which scenes cover the patch in each season window, with the
   granule cloud percentage and, where the source can tell cheaply, the clear fraction of
   the patch itself (so the least cloudy scene is chosen by the patch, not the granule);
2. :meth:`Source.fetch` — the chosen scene of every season, all bands stacked on the
   location's exact UTM grid, plus a per-pixel cloud probability.

Failures are typed: :class:`TransientError` (retry later: quota, timeout, 5xx) and
:class:`PermanentError` (record and replace the candidate: no data, request too large).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from shared.layout.encoding import CLOUD_CLEAR_BELOW
from shared.layout.native import BandImages

__all__ = [
    "Location",
    "Scene",
    "Patch",
    "Source",
    "SourceError",
    "TransientError",
    "PermanentError",
    "UnreachableError",
    "unreachable_kind",
    "clear_fraction",
]


@dataclass(frozen=True)
class Location:
    """A planned patch: its centre, exact grid and its season windows.

    ``windows[s]`` is ``(start, end)`` as ``datetime64[D]``, start inclusive, end exclusive.
    ``transform`` is rasterio's affine order; the grid is ``size × size`` pixels.
    """

    candidate_id: int
    lon: float
    lat: float
    epsg: int
    transform: tuple[float, float, float, float, float, float]
    size: int
    windows: tuple[tuple[np.datetime64, np.datetime64], ...]

    @property
    def n_seasons(self) -> int:
        return len(self.windows)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in the grid's CRS (metres)."""
        a, _, c, _, e, f = self.transform
        return (c, f + e * self.size, c + a * self.size, f)


@dataclass(frozen=True)
class Scene:
    """One acquisition that covers the patch inside a season window.

    ``cloud_percent`` is the granule's own figure (0–100); ``clear_fraction`` is the fraction
    of clear pixels in this patch when the source computed it during search, else ``None``.
    ``time`` is UTC ``datetime64[ms]``.
    """

    id: str
    time: np.datetime64
    season: int
    cloud_percent: float
    clear_fraction: float | None = None


@dataclass
class Patch:
    """Fetched data of one location, one image per requested scene (normally one per season).

    pixels: uint16 harmonized DN (reflectance × 10⁴), 0 = no data: native
    :class:`~shared.layout.native.BandImages` with leading axis (scenes,) — each band at its
    own 10/20/60 m resolution, as layout 3 stores it — or (scenes, bands, size, size) on the
    10 m grid (decimated exactly by the writer where 20/60 m pixels are 2×2/6×6 blocks);
    cloud: (scenes, size, size) uint8 cloud probability in percent, 255 = no data.
    """

    pixels: BandImages | np.ndarray
    cloud: np.ndarray
    scenes: tuple[Scene, ...]
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def clear_fractions(self) -> np.ndarray:
        """(seasons,) float32 fraction of clear pixels of each season's image."""
        return np.array([clear_fraction(c) for c in self.cloud], dtype=np.float32)


def clear_fraction(cloud: np.ndarray) -> float:
    """Fraction of pixels that hold data and are clear (cloud < ``CLOUD_CLEAR_BELOW``).

    No-data pixels (``CLOUD_NODATA``) count as not clear.
    """
    cloud = np.asarray(cloud)
    if cloud.size == 0:
        return 0.0
    return float(np.count_nonzero(cloud < CLOUD_CLEAR_BELOW)) / cloud.size


class SourceError(Exception):
    """A source could not answer."""


class TransientError(SourceError):
    """Worth retrying after a pause: quota exceeded, timeout, server error."""


class PermanentError(SourceError):
    """Retrying will not help: no coverage, request too large, bad request."""


class UnreachableError(TransientError):
    """The service cannot be reached at all: its host name does not resolve, the connection is
    refused or there is no route to it. Tried a small, bounded number of times
    (:data:`collector.sources.retry.UNREACHABLE_ATTEMPTS`), then the whole run stops: every
    other candidate would fail the same way."""


#: (substring of a lower-cased error message, what it means), for :func:`unreachable_kind`.
_UNREACHABLE = (
    ("name or service not known", "its host name does not resolve"),
    ("temporary failure in name resolution", "its host name does not resolve"),
    ("failed to resolve", "its host name does not resolve"),
    ("nodename nor servname", "its host name does not resolve"),
    ("no address associated with hostname", "its host name does not resolve"),
    ("getaddrinfo failed", "its host name does not resolve"),
    ("could not resolve host", "its host name does not resolve"),
    ("couldn't resolve host", "its host name does not resolve"),
    ("nameresolutionerror", "its host name does not resolve"),
    ("connection refused", "the connection was refused"),
    ("errno 111]", "the connection was refused"),
    ("network is unreachable", "the network is unreachable"),
    ("no route to host", "the network is unreachable"),
)


def unreachable_kind(error: BaseException | str) -> str | None:
    """Why a failure means the service cannot be reached at all (``"its host name does not
    resolve"``, ``"the connection was refused"``, ``"the network is unreachable"``), or None
    for any other failure (a timeout, a 5xx, a reset connection: those keep the retry policy).
    Recognised from the exception chain's types and messages, since HTTP clients (requests,
    urllib3, GDAL's curl, httplib2) each wrap the socket error their own way."""
    import socket

    seen: set[int] = set()
    texts = []
    e: BaseException | None = error if isinstance(error, BaseException) else None
    if e is None:
        texts.append(str(error))
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(e, ConnectionRefusedError):
            return "the connection was refused"
        texts.append(f"{type(e).__name__}: {e}")
        e = e.__cause__ or e.__context__
    low = " ".join(texts).lower()
    for needle, kind in _UNREACHABLE:
        if needle in low:
            return kind
    return None


@runtime_checkable
class Source(Protocol):
    """What the collection engine needs from a Sentinel-2 source.

    Attributes: ``name`` (as stored in the store's ``source`` attribute), ``synthetic`` (True
    when the pixels are generated, not observed), ``collection`` (``"L1C"`` or ``"L2A"``),
    ``bands`` (names fetched, in store order). Implementations must be picklable, since the
    engine ships them to Dask workers, and must not hold credentials in picklable state.

    Optional: ``set_request_limiter(limiter)``. The engine bounds requests in flight by
    wrapping each ``search``/``fetch`` call in ``limiter()``; a source that spends time
    building requests may instead take the limiter and hold it only around its network calls.
    """

    name: str
    synthetic: bool
    collection: str
    bands: tuple[str, ...]

    def search(self, location: Location) -> list[list[Scene]]:
        """Scenes covering ``location`` per season window (``len == location.n_seasons``)."""
        ...

    def fetch(self, location: Location, scenes: Sequence[Scene]) -> Patch:
        """All bands and the cloud probability of the given scenes on the location's grid.

        The result holds exactly ``scenes``, in their order: normally one per season, but the
        engine may ask again for a subset (e.g. the next-best scene of one cloudy season).
        """
        ...
