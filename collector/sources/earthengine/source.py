"""The real source: Sentinel-2 from Google Earth Engine, two requests per location.

1. **search** — one ``computeValue`` for all season windows: the scenes of
   ``COPERNICUS/S2_HARMONIZED`` (L1C) or ``COPERNICUS/S2_SR_HARMONIZED`` (L2A) that touch the
   patch, pre-filtered server-side on ``CLOUDY_PIXEL_PERCENTAGE``, each with the fraction of
   the *patch's own* pixels that Cloud Score+ calls clear (``cs_cdf ≥ 0.6``) and the fraction
   that has a Cloud Score+ value at all, both measured at 20 m over the patch's exact UTM
   rectangle. Pixels outside the granule's footprint (patches crossing a granule edge) count
   as not clear: ``unmask(0, False)`` fills them (plain ``unmask(0)`` keeps the footprint, so
   the mean would skip them and overrate the scene). A scene without a Cloud Score+ image
   has no scored pixel: it is returned with ``clear_fraction=None`` (ranked after measured
   scenes), where a null column would have made ``ee.Reducer.toList`` drop its row.
2. **fetch** — one ``computePixels`` for every chosen scene at once: all bands (bilinear) and
   the cloud probability ``100·(1 − cs_cdf)`` (nearest) on the location's exact grid, N×N at
   10 m. Pixels without data, outside the footprint included, are 0 in every band and 255 in
   ``cloud`` (``unmask(…, False)``), so they count as not clear; a scene without Cloud
   Score+ has ``cloud`` 255 throughout. 264² × 4 seasons × (13 × 2 + 1) bytes ≈ 7.5 MB, far
   below the 48 MB request limit.

Errors: see :mod:`collector.sources.earthengine.errors` (classified by the real client's
messages; the client's own retries are off, so the engine's retry policy is the only one).
Every request has a deadline (``deadline_s``, default 180 s; the client's default is none).

SeCo's own downloader needed about 20 round trips per location. Credentials are found by
:mod:`collector.sources.earthengine.auth` inside the process that makes the requests, never
pickled, logged or stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from collector.sources.base import (
    Location,
    Patch,
    PermanentError,
    Scene,
)
from collector.sources.earthengine.auth import find_credentials, find_project
from collector.sources.earthengine.errors import classify_error
from collector.sources.facts import RuntimeDefaults, SourceFacts
from shared.layout.bands import band_names
from shared.layout.encoding import CLOUD_NODATA
from shared.layout.native import BandImages

__all__ = [
    "EarthEngineSource",
    "EarthEngineApi",
    "classify_error",
    "COLLECTIONS",
    "CLOUD_SCORE_PLUS",
    "preflight",
]

COLLECTIONS = {"L1C": "COPERNICUS/S2_HARMONIZED", "L2A": "COPERNICUS/S2_SR_HARMONIZED"}
CLOUD_SCORE_PLUS = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
CLEAR_SCORE = 0.6  # cs_cdf ≥ 0.6 is clear (the Cloud Score+ recommendation, 0.5–0.65)
SEARCH_SCALE_M = 20
#: The properties listed per scene by the search, in row order.
SEARCH_COLUMNS = [
    "system:index",
    "system:time_start",
    "CLOUDY_PIXEL_PERCENTAGE",
    "seco_clear",
    "seco_scored",
]
DEFAULT_DEADLINE_S = 180.0  # per HTTP request; earthengine-api's own default is no limit


_SESSION_LOCK = threading.Lock()
_SESSION: tuple[str, str | None, float] | None = None  # (project, url, deadline) of ee's session


class EarthEngineApi:
    """The two Earth Engine calls this source makes, through the real ``ee`` client.

    ``initialize`` finds credentials, switches the client's own retries off
    (``ee.data.setMaxRetries(0)``: the engine owns the retry policy), initialises ``ee``
    against ``url`` (default: the high-volume endpoint) and sets the request deadline
    (``ee.data.setDeadline``), once per process for all sources with the same settings
    (re-initialising ``ee`` replaces the resource that other threads are calling through).
    """

    def __init__(
        self, project: str, url: str | None = None, deadline_s: float = DEFAULT_DEADLINE_S
    ) -> None:
        self.project = project
        self.url = url
        self.deadline_s = float(deadline_s)
        self._ready = False

    def initialize(self) -> None:
        with _SESSION_LOCK:  # ee's session is one per process, shared by every thread
            if self._ready:
                return
            global _SESSION
            import ee

            key = (self.project, self.url, self.deadline_s)
            if not (ee.data.is_initialized() and key == _SESSION):
                credentials, _how = find_credentials()
                self._initialize_ee(credentials)
                _SESSION = key
            self._ready = True

    def _initialize_ee(self, credentials: Any) -> None:
        import ee

        url = self.url or ee.data.HIGH_VOLUME_API_BASE_URL
        ee.data.setMaxRetries(0)
        ee.Initialize(credentials, project=self.project, url=url)
        ee.data.setDeadline(int(self.deadline_s * 1000))

    def compute_value(self, obj: Any) -> Any:
        import ee

        self.initialize()
        return ee.data.computeValue(obj)

    def compute_pixels(self, request: dict[str, Any]) -> np.ndarray:
        import ee

        self.initialize()
        return ee.data.computePixels(request)


class EarthEngineSource:
    """Sentinel-2 from Earth Engine (``COPERNICUS/S2_HARMONIZED`` or ``S2_SR_HARMONIZED``).

    Picklable: it holds the project name and settings; the ``ee`` session (with credentials)
    is created lazily in each process that uses it.
    """

    name = "earthengine"
    synthetic = False
    facts = SourceFacts(
        synthetic=False, levels=("L1C", "L2A"), runtime=RuntimeDefaults(40, 100.0, 16, 4)
    )

    def __init__(
        self,
        collection: str = "L1C",
        bands: Sequence[str] | None = None,
        granule_cloud_max: float = 20.0,
        project: str | None = None,
        url: str | None = None,
        clear_score: float = CLEAR_SCORE,
        deadline_s: float = DEFAULT_DEADLINE_S,
    ) -> None:
        if collection not in COLLECTIONS:
            raise ValueError(
                f"collection must be one of {', '.join(COLLECTIONS)}, got {collection!r}"
            )
        self.collection = collection
        self.bands = tuple(bands) if bands else band_names(collection)
        self.granule_cloud_max = float(granule_cloud_max)
        self.project = find_project({"project": project})
        self.url = url
        self.clear_score = float(clear_score)
        if not float(deadline_s) > 0:
            raise ValueError(f"deadline_s must be > 0 seconds, got {deadline_s!r}")
        self.deadline_s = float(deadline_s)
        self.requests = {"search": 0, "fetch": 0}
        self._api: EarthEngineApi | None = None
        self._limiter: Callable[[], AbstractContextManager[Any]] = nullcontext

    def set_request_limiter(self, limiter: Callable[[], AbstractContextManager[Any]]) -> None:
        """Hold the engine's in-flight bound only while a request is on the wire."""
        self._limiter = limiter

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_api"] = None  # the live session never travels
        state["_limiter"] = nullcontext  # nor the process-local limiter
        return state

    @property
    def api(self) -> EarthEngineApi:
        """The ``ee`` session of this process, made on first use."""
        if self._api is None:
            self._api = EarthEngineApi(self.project, self.url, self.deadline_s)
        return self._api

    # -- request building ---------------------------------------------------------------------

    def region(self, location: Location) -> Any:
        """The patch's exact rectangle in its UTM CRS (planar, not geodesic)."""
        import ee

        minx, miny, maxx, maxy = location.bounds
        return ee.Geometry.Rectangle([minx, miny, maxx, maxy], f"EPSG:{location.epsg}", False)

    def search_expression(self, location: Location) -> Any:
        """One server-side list ``[[id, time_ms, granule %, clear, scored], …]`` over all windows.

        ``clear`` is the fraction of the patch's pixels with ``cs_cdf ≥ clear_score`` and
        ``scored`` the fraction with any Cloud Score+ value; pixels without one (outside the
        granule's footprint, or no Cloud Score+ image linked: its band is fully masked) are
        filled with 0 by ``unmask(0, False)``, so neither value is ever null (a null would
        make ``ee.Reducer.toList`` drop the scene's row). One collection filtered by the
        union of the windows, mapped once (earthengine-api traces a mapped Python function on
        every ``map`` call, the costliest part of building a request); rows are assigned to
        their windows by time on the client.
        """
        import ee

        region = self.region(location)
        crs = f"EPSG:{location.epsg}"

        def add_clear(image: Any) -> Any:
            score = image.select("cs_cdf")
            clear = score.gte(self.clear_score).unmask(0, False).rename("clear")
            scored = score.mask().gt(0).unmask(0, False).rename("scored")
            means = ee.Image.cat([clear, scored]).reduceRegion(
                ee.Reducer.mean(), region, SEARCH_SCALE_M, crs
            )
            return image.set({"seco_clear": means.get("clear"), "seco_scored": means.get("scored")})

        in_windows = ee.Filter.Or(
            *[ee.Filter.date(_ms(start), _ms(end)) for start, end in location.windows]
        )
        scenes = (
            ee.ImageCollection(COLLECTIONS[self.collection])
            .filterBounds(region)
            .filter(in_windows)
            .filter(ee.Filter.lte("CLOUDY_PIXEL_PERCENTAGE", self.granule_cloud_max))
            .linkCollection(ee.ImageCollection(CLOUD_SCORE_PLUS), ["cs_cdf"])
            .map(add_clear)
        )
        return scenes.reduceColumns(ee.Reducer.toList(len(SEARCH_COLUMNS)), SEARCH_COLUMNS).get(
            "list"
        )

    def pixels_request(self, location: Location, scenes: Sequence[Scene]) -> dict[str, Any]:
        """The ``computePixels`` request for ``scenes`` on the location's grid."""
        import ee

        parts = []
        for i, scene in enumerate(scenes):
            image = ee.Image(f"{COLLECTIONS[self.collection]}/{scene.id}")
            # nearest (Earth Engine's default): the grid's corner is on the 60 m lattice, so
            # each 20/60 m sensor pixel arrives as an exact 2×2/6×6 block, decimated on the worker
            reflectance = (
                image.select(list(self.bands))
                .unmask(0, False)
                .toUint16()
                .rename([f"s{i}_{b}" for b in self.bands])
            )
            if scene.clear_fraction is None:  # no Cloud Score+ image: cloud unknown
                cloud = ee.Image.constant(CLOUD_NODATA).toUint8().rename(f"s{i}_cloud")
            else:
                score = ee.Image(f"{CLOUD_SCORE_PLUS}/{scene.id}").select("cs_cdf")
                cloud = (
                    ee.Image(1)
                    .subtract(score)
                    .multiply(100)
                    .round()
                    .unmask(CLOUD_NODATA, False)
                    .toUint8()
                    .rename(f"s{i}_cloud")
                )
            parts += [reflectance, cloud]
        a, b, c, d, e, f = location.transform
        return {
            "expression": ee.Image.cat(parts),
            "fileFormat": "NUMPY_NDARRAY",
            "grid": {
                "dimensions": {"width": location.size, "height": location.size},
                "affineTransform": {
                    "scaleX": a,
                    "shearX": b,
                    "translateX": c,
                    "shearY": d,
                    "scaleY": e,
                    "translateY": f,
                },
                "crsCode": f"EPSG:{location.epsg}",
            },
        }

    # -- the Source protocol ------------------------------------------------------------------

    def search(self, location: Location) -> list[list[Scene]]:
        """Scenes per window with their granule cloud and patch clear fraction (one request)."""
        self.requests["search"] += 1
        try:
            self.api.initialize()  # building ee expressions needs an initialised session
            expression = self.search_expression(location)
            with self._limiter():
                found = self.api.compute_value(expression)
        except Exception as e:  # ee raises EEException, HttpError, socket errors …
            raise classify_error(e) from e
        if not isinstance(found, list):
            raise PermanentError(f"unexpected search answer of type {type(found).__name__}")
        out: list[list[Scene]] = [[] for _ in location.windows]
        for row in found:
            if not isinstance(row, list) or len(row) != len(SEARCH_COLUMNS):
                raise PermanentError(f"unexpected search row {row!r}")
            index, time_ms, cloud, clear, scored = row
            measured = clear is not None and scored is not None and float(scored) > 0
            for season, (start, end) in enumerate(location.windows):
                if _ms(start) <= int(time_ms) < _ms(end):
                    out[season].append(
                        Scene(
                            id=str(index),
                            time=np.datetime64(int(time_ms), "ms"),
                            season=season,
                            cloud_percent=float(cloud),
                            clear_fraction=float(clear) if measured else None,
                        )
                    )
        return [sorted(scenes, key=lambda s: s.time) for scenes in out]

    def fetch(self, location: Location, scenes: Sequence[Scene]) -> Patch:
        """Bands and cloud probability of ``scenes`` in one ``computePixels`` request."""
        if not scenes:
            raise ValueError("fetch needs at least one scene")
        self.requests["fetch"] += 1
        try:
            self.api.initialize()
            request = self.pixels_request(location, scenes)
            with self._limiter():
                data = self.api.compute_pixels(request)
        except Exception as e:
            raise classify_error(e) from e
        return decode_pixels(data, len(scenes), self.bands, location.size, scenes)


def decode_pixels(
    data: np.ndarray, n_scenes: int, bands: Sequence[str], size: int, scenes: Sequence[Scene]
) -> Patch:
    """A structured (size, size) array with fields ``s{i}_{band}``, ``s{i}_cloud`` → a Patch.

    Pixels become native :class:`~shared.layout.native.BandImages` (20/60 m bands decimated,
    exact on the nearest-resampled blocks) when ``size`` divides into 20/60 m pixels.
    """
    names = set(data.dtype.names or ())
    expected = {f"s{i}_{b}" for i in range(n_scenes) for b in bands} | {
        f"s{i}_cloud" for i in range(n_scenes)
    }
    if data.shape != (size, size) or not expected <= names:
        raise PermanentError(
            f"computePixels answered shape {data.shape} with {len(names)} bands; "
            f"expected ({size}, {size}) with {len(expected)}"
        )
    pixels = np.empty((n_scenes, len(bands), size, size), np.uint16)
    cloud = np.empty((n_scenes, size, size), np.uint8)
    for i in range(n_scenes):
        for j, b in enumerate(bands):
            pixels[i, j] = data[f"s{i}_{b}"]
        cloud[i] = data[f"s{i}_cloud"]
    try:  # one sensor pixel per 2×2/6×6 block of the nearest-resampled 10 m answer
        native: BandImages | np.ndarray = BandImages.from_grid(pixels, bands)
    except ValueError:  # a size that does not divide into 20/60 m pixels: keep the 10 m grid
        native = pixels
    return Patch(pixels=native, cloud=cloud, scenes=tuple(scenes))


def _ms(day: np.datetime64) -> int:
    return int(np.asarray(day).astype("datetime64[ms]").astype(np.int64))


def preflight(options: dict[str, Any]) -> None:
    """Credentials and project must be found before anything is written."""
    find_credentials()
    find_project(options)
