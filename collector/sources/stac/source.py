"""Sentinel-2 L2A from a public STAC catalogue (Earth Search, Planetary Computer): no account.

Per location:

1. **search** — one STAC item search (pystac-client) over the time span of all season
   windows: items of the catalogue's L2A collection whose footprint intersects the patch
   (lon/lat polygon of its exact UTM square), ``eo:cloud_cover ≤ granule_cloud_max`` (the
   engine's own rule; checked again on the client, since a server may silently ignore a
   filter it does not support), sorted by cloud cover; items are assigned to windows by their datetime
   on the client, and items lacking a needed asset (a requested band or SCL) are left out.
   In each window the ``max_scenes_per_window`` least cloudy items (by ``eo:cloud_cover``)
   get the patch's own clear fraction, from their SCL read nearest on the patch's square at
   20 m (SCL's native resolution, half the 10 m grid's size): one small COG read each. The
   others are returned unmeasured (``clear_fraction=None``): the engine ranks them after the
   measured ones, to be fetched only if those fail. Fewer measured scenes cost fewer reads
   but may miss a clear scene whose granule figure was worse.
2. **fetch** — for every scene, every band's window read from its COG onto the location's
   exact grid (bilinear; 10 m bands aligned with the grid are copied exactly) and SCL
   (nearest) → ``cloud``: 100 for SCL 3 (shadow), 8, 9 (cloud), 10 (cirrus), 255 for 0 (no
   data), 0 for the rest; pixels harmonized (see :mod:`collector.sources.stac.catalogs`).

Requests per location, normal path: 1 search (+1 per further page of 100 items) + up to
``seasons × max_scenes_per_window`` SCL reads + ``seasons × (bands + 1)`` COG reads, each COG
read being a HEAD and one or two range GETs (header, then the patch's tiles merged).

Errors: 429, 5xx, timeouts and connection failures are :class:`TransientError`; 400, 404,
a missing asset and unreadable files are :class:`PermanentError`. A 403 on a signed
(Planetary Computer) href is answered by signing again with a fresh token and reading once
more; a second 403 is transient (the token service may be catching up). A token-service
failure while signing (5xx, connection) is transient too, raised inside the engine's retry
(:mod:`collector.sources.stac.sign`). On unsigned hrefs 403 is what S3 answers for a
missing object: permanent. No message holds a URL's query string (where SAS tokens travel).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import shapely

from collector.sources.base import (
    Location,
    Patch,
    PermanentError,
    Scene,
    TransientError,
    UnreachableError,
    clear_fraction,
    unreachable_kind,
)
from collector.sources.facts import RuntimeDefaults, SourceFacts
from collector.sources.stac.catalogs import (
    asset_key,
    dn_offset,
    expected_asset_key,
    harmonize,
    resolve_catalog,
    scl_to_cloud,
)
from collector.sources.stac.dates import epoch_ms, iso_time, item_time
from collector.sources.stac.errors import classify_api_error
from collector.sources.stac.preflight import preflight, probe  # looked up here by the registry
from collector.sources.stac.read import (
    Grid,
    ReadFailure,
    gdal_options,
    read_on_grid,
    strip_query,
)
from collector.sources.stac.sign import PlanetaryComputerSigner, Signer, load_signer
from shared.layout.bands import band_names
from shared.layout.grid import footprints
from shared.layout.native import FACTOR, BandImages, band_group, divides

__all__ = [
    "StacSource",
    "PlanetaryComputerSigner",
    "preflight",
    "probe",
]

SCL_RESOLUTION_M = 20.0
PAGE_SIZE = 100
ITEM_CACHE = 4096


class StacSource:
    """Sentinel-2 L2A COGs from a STAC API, read with rasterio on the location's grid.

    ``catalog``: ``"earth-search"`` (default), ``"planetary-computer"`` or an API root URL
    (then ``collection_id`` is required; ``assets`` maps band names and ``"SCL"`` to asset
    keys, else Earth Search names then Planetary Computer names are tried; ``offset`` is
    ``raster-bands`` unless given). ``url`` replaces a named catalogue's API root (mirrors,
    tests). ``signer``: callable or ``"module:function"`` mapping an href to a signed href
    (default: :class:`PlanetaryComputerSigner` where the catalogue needs one).

    Picklable: it holds settings only; the pystac-client session and the item cache (items
    seen by ``search``, so that ``fetch`` needs no lookup) are made afresh in each process.
    """

    name = "stac"
    synthetic = False
    facts = SourceFacts(
        synthetic=False,
        levels=("L2A",),  # clouds come from its SCL band
        runtime=RuntimeDefaults(32, None, 8, 4),
        offline_preflight=True,
        catalogs=True,
        cog_windows=True,
    )

    def __init__(
        self,
        collection: str = "L2A",
        bands: Sequence[str] | None = None,
        granule_cloud_max: float = 20.0,
        catalog: str = "earth-search",
        url: str | None = None,
        collection_id: str | None = None,
        assets: Mapping[str, str] | None = None,
        offset: str | None = None,
        signer: str | Signer | None = None,
        max_items: int = 500,
        max_scenes_per_window: int = 4,
        read_threads: int = 4,
        http_retries: int = 3,
        http_retry_delay_s: float = 1.0,
        timeout_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if collection != "L2A":
            raise ValueError(
                f"the STAC source serves L2A only (its clouds come from SCL), got {collection!r}:"
                " use BANDS=l2a"
            )
        self.catalog = resolve_catalog(catalog, url, collection_id, assets, offset)
        self.collection = collection
        self.bands = tuple(bands) if bands else band_names(collection)
        unknown = [b for b in self.bands if b not in band_names(collection)]
        if unknown:
            raise ValueError(f"unknown L2A band(s) {', '.join(unknown)}")
        if self.catalog.assets is not None:
            unmapped = [b for b in self.bands if b not in self.catalog.assets]
            if unmapped:
                raise ValueError(f"assets has no key for band(s) {', '.join(unmapped)}")
        self.granule_cloud_max = float(granule_cloud_max)
        for label, value in (
            ("max_items", max_items),
            ("max_scenes_per_window", max_scenes_per_window),
            ("read_threads", read_threads),
        ):
            if int(value) < 1:
                raise ValueError(f"{label} must be ≥ 1, got {value}")
        if http_retries < 0 or http_retry_delay_s < 0 or timeout_s <= 0:
            raise ValueError("http_retries and http_retry_delay_s must be ≥ 0, timeout_s > 0")
        self.signer = load_signer(signer, self.catalog)
        self.max_items = int(max_items)
        self.max_scenes_per_window = int(max_scenes_per_window)
        self.read_threads = int(read_threads)
        self.http_retries = int(http_retries)
        self.http_retry_delay_s = float(http_retry_delay_s)
        self.timeout_s = float(timeout_s)
        self.headers = dict(headers or {})
        self.gdal = gdal_options(self.http_retries, self.http_retry_delay_s, self.timeout_s)
        self.requests = {"search": 0, "items": 0, "scl": 0, "bands": 0, "resigned": 0}
        self._limiter: Callable[[], AbstractContextManager[Any]] = nullcontext
        self._init_local()

    def _init_local(self) -> None:
        self._client: Any = None
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("_client", "_items", "_lock", "_client_lock"):
            state.pop(name)
        state["_limiter"] = nullcontext  # the engine's limiter is process-local
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_local()

    def set_request_limiter(self, limiter: Callable[[], AbstractContextManager[Any]]) -> None:
        """Hold the engine's in-flight bound around each HTTP exchange (search, COG read)."""
        self._limiter = limiter

    def _count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.requests[kind] += n

    # -- the STAC API ---------------------------------------------------------------------------

    def client(self) -> Any:
        """The pystac-client ``Client`` of this process (opened once: one request for the root;
        429/5xx retried by urllib3, POST included)."""
        with self._client_lock:
            if self._client is None:
                from pystac_client import Client
                from pystac_client.stac_api_io import StacApiIO
                from urllib3.util.retry import Retry

                retry = Retry(
                    total=self.http_retries,
                    backoff_factor=self.http_retry_delay_s,
                    status_forcelist=(429, 500, 502, 503, 504),
                    allowed_methods=None,
                    raise_on_status=False,
                )
                io = StacApiIO(
                    headers=self.headers or None, timeout=self.timeout_s, max_retries=retry
                )
                with self._limiter():
                    self._client = Client.open(self.catalog.url, stac_io=io)
            return self._client

    def _search(self, **params: Any) -> list[dict[str, Any]]:
        try:
            client = self.client()
            search = client.search(collections=[self.catalog.collection_id], **params)
            with self._limiter():
                items = list(search.items_as_dicts())
        except Exception as e:  # pystac_client.APIError, requests errors, JSON errors …
            raise classify_api_error(e) from None
        with self._lock:
            for item in items:
                self._items[str(item["id"])] = item
                self._items.move_to_end(str(item["id"]))
            while len(self._items) > ITEM_CACHE:
                self._items.popitem(last=False)
        return items

    def _lookup(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Items by id: from this process's cache, else one search by ids for the rest."""
        with self._lock:
            found = {i: self._items[i] for i in ids if i in self._items}
        missing = sorted({i for i in ids if i not in found})
        if missing:
            self._count("items")
            for item in self._search(ids=missing, limit=len(missing)):
                found[str(item["id"])] = item
        lost = [i for i in ids if i not in found]
        if lost:
            raise PermanentError(
                f"STAC item(s) {', '.join(lost)} not found in {self.catalog.collection_id}"
            )
        return found

    # -- reading COGs ---------------------------------------------------------------------------

    def _href(self, item: Mapping[str, Any], band: str) -> str:
        assets = item.get("assets") or {}
        key = asset_key(self.catalog, band, assets)
        if key is None:
            raise PermanentError(
                f"STAC item {item.get('id')!r} has no asset '{expected_asset_key(self.catalog, band)}' "
                f"for band {band}"
            )
        return str(assets[key]["href"])

    def _has_assets(self, item: Mapping[str, Any], bands: Sequence[str]) -> bool:
        assets = item.get("assets") or {}
        return all(asset_key(self.catalog, band, assets) is not None for band in bands)

    def _read(self, href: str, grid: Grid, resampling: str) -> np.ndarray:
        """One COG read onto ``grid``, signing the href first where the catalogue needs it; a
        403 on a signed href is signed afresh and read once more."""
        signed = self.signer is not None
        for attempt in (0, 1):
            url = href if self.signer is None else self._sign(self.signer, href)
            try:
                with self._limiter():
                    return read_on_grid(url, grid, resampling, self.gdal, href, signed)
            except ReadFailure as e:
                if e.status == 403 and signed and attempt == 0:
                    invalidate = getattr(self.signer, "invalidate", None)
                    if callable(invalidate):
                        invalidate()
                    self._count("resigned")
                    continue
                message = f"reading {strip_query(href)}: {e}"
                kind = unreachable_kind(str(e))
                if kind is not None:
                    raise UnreachableError(f"{message} ({kind})") from None
                if e.status == 403 and signed:  # signed afresh and still refused
                    raise TransientError(message) from None
                raise (TransientError if e.transient else PermanentError)(message) from None
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _sign(signer: Signer, href: str) -> str:
        """``href`` signed; a token-service failure becomes a typed error (5xx: transient)."""
        try:
            return signer(href)
        except Exception as e:  # requests.RetryError / HTTPError / ConnectionError …
            typed = classify_api_error(e, "the token service")
            raise type(typed)(f"signing {strip_query(href)}: {typed}") from None

    def _read_all(self, jobs: list[tuple[str, Grid, str]]) -> list[np.ndarray]:
        if len(jobs) == 1 or self.read_threads == 1:
            return [self._read(*job) for job in jobs]
        with ThreadPoolExecutor(min(self.read_threads, len(jobs))) as pool:
            futures = [pool.submit(self._read, *job) for job in jobs]
            return [f.result() for f in futures]

    @staticmethod
    def grid(location: Location, resolution: float | None = None) -> Grid:
        """The location's grid, or the same square at a coarser ``resolution`` (metres)."""
        a, b, c, d, e, f = location.transform
        if resolution is None or resolution == a:
            return Grid(location.epsg, location.transform, location.size, location.size)
        n = int(np.ceil(location.size * a / resolution))
        return Grid(location.epsg, (resolution, b, c, d, -resolution, f), n, n)

    # -- the Source protocol --------------------------------------------------------------------

    def search(self, location: Location) -> list[list[Scene]]:
        """Scenes per window: one item search, then the SCL clear fraction of the least cloudy
        ``max_scenes_per_window`` items of each window."""
        starts = [epoch_ms(start) for start, _ in location.windows]
        ends = [epoch_ms(end) for _, end in location.windows]
        polygon = footprints(
            np.array([location.epsg]), np.array([location.transform]), location.size
        )[0]
        self._count("search")
        items = self._search(
            intersects=shapely.geometry.mapping(polygon),
            datetime=f"{iso_time(min(starts))}/{iso_time(max(ends) - 1)}",
            query={"eo:cloud_cover": {"lte": self.granule_cloud_max}},
            sortby=[{"field": "properties.eo:cloud_cover", "direction": "asc"}],
            limit=PAGE_SIZE,
            max_items=self.max_items,
        )
        windows: list[list[tuple[float, int, dict[str, Any]]]] = [[] for _ in location.windows]
        for item in items:
            when = item_time(item)
            ms = int(when.astype(np.int64))
            cloud = item.get("properties", {}).get("eo:cloud_cover")
            # checked again here: a server may ignore a filter it does not support
            if not isinstance(cloud, (int, float)) or cloud > self.granule_cloud_max:
                continue
            for season, (start, end) in enumerate(zip(starts, ends, strict=True)):
                if start <= ms < end:
                    windows[season].append((float(cloud), ms, item))
        needed = (*self.bands, "SCL")
        measure: list[tuple[int, int]] = []  # (season, index) of the scenes to measure
        for season, found in enumerate(windows):
            found.sort(key=lambda t: (t[0], t[1], str(t[2]["id"])))
            keep = [t for t in found if self._has_assets(t[2], needed)]
            windows[season] = keep
            measure += [(season, i) for i in range(min(len(keep), self.max_scenes_per_window))]
        grid = self.grid(location, SCL_RESOLUTION_M)
        jobs = [(self._href(windows[s][i][2], "SCL"), grid, "nearest") for s, i in measure]
        self._count("scl", len(jobs))
        scls = self._read_all(jobs)
        clear = {m: clear_fraction(scl_to_cloud(scl)) for m, scl in zip(measure, scls, strict=True)}
        return [
            sorted(
                (
                    Scene(
                        id=str(item["id"]),
                        time=np.datetime64(ms, "ms"),
                        season=season,
                        cloud_percent=cloud,
                        clear_fraction=clear.get((season, i)),
                    )
                    for i, (cloud, ms, item) in enumerate(found)
                ),
                key=lambda s: s.time,
            )
            for season, found in enumerate(windows)
        ]

    def fetch(self, location: Location, scenes: Sequence[Scene]) -> Patch:
        """Every band (harmonized uint16) and the SCL cloud mask of ``scenes``, in order.

        Each band is read at its native resolution onto its own grid (the location's corner,
        10/20/60 m pixels) and returned as :class:`~shared.layout.native.BandImages`; the
        cloud mask is on the 10 m grid. A size that does not divide into 20/60 m pixels reads
        every band onto the 10 m grid instead.
        """
        if not scenes:
            raise ValueError("fetch needs at least one scene")
        items = self._lookup([s.id for s in scenes])
        grid = self.grid(location)
        native = divides(location.size, self.bands)
        # each band on its own 10/20/60 m grid (same corner, on the 60 m lattice): a COG in
        # the patch's zone is copied pixel for pixel (every bilinear weight is 0 or 1)
        band_grid = {
            b: self.grid(location, location.transform[0] * FACTOR[band_group(b)])
            if native
            else grid
            for b in self.bands
        }
        jobs: list[tuple[str, Grid, str]] = []
        offsets: list[int] = []
        for scene in scenes:
            item = items[scene.id]
            assets = item.get("assets") or {}
            for band in self.bands:
                href = self._href(item, band)
                asset = assets[asset_key(self.catalog, band, assets)]
                jobs.append((href, band_grid[band], "bilinear"))
                offsets.append(
                    dn_offset(self.catalog.offset, item.get("properties", {}), asset, scene.time)
                )
            jobs.append((self._href(item, "SCL"), grid, "nearest"))
        self._count("bands", len(jobs))
        arrays = self._read_all(jobs)
        n, k = len(scenes), len(self.bands)
        cloud = np.empty((n, location.size, location.size), np.uint8)
        per_band = {
            band: np.stack(
                [harmonize(arrays[i * (k + 1) + j], offsets[i * k + j]) for i in range(n)]
            )
            for j, band in enumerate(self.bands)
        }
        for i in range(n):
            cloud[i] = scl_to_cloud(arrays[i * (k + 1) + k])
        pixels: BandImages | np.ndarray = (
            BandImages.from_bands(per_band, location.size)
            if native
            else np.stack(list(per_band.values()), axis=1)
        )
        return Patch(pixels=pixels, cloud=cloud, scenes=tuple(scenes))
