"""``SyntheticSource``: the synthetic Sentinel-2 world behind the common ``Source`` protocol.

Everything is deterministic from ``(seed, location, date)``: the same call gives the same bytes
in any process. The source holds only its settings, so it is cheap to build and to pickle.
All its data is labelled synthetic: ``name == "synthetic"``, ``synthetic is True``, scene ids
start with ``SYNTH_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from collector.sources.base import (
    Location,
    Patch,
    PermanentError,
    Scene,
)
from collector.sources.facts import RuntimeDefaults, SourceFacts
from collector.sources.synthetic.changes import ChangeEvent, classes_at, plan_change
from collector.sources.synthetic.climate import as_day, day_of_year, hemisphere_doy
from collector.sources.synthetic.clouds import CloudGeometry, cloud_fields, cloud_layer
from collector.sources.synthetic.hashing import Tag, mix_words
from collector.sources.synthetic.landcover import LANDCOVER_CLASSES, Landscape, build_landscape
from collector.sources.synthetic.noise import CoarseGrid, GridAxes, coarse_grid, patch_axes
from collector.sources.synthetic.phenology import Climate, unit_weights
from collector.sources.synthetic.render import Ground, ground_state, render_scene
from collector.sources.synthetic.scenes import (
    SceneWeather,
    Tile,
    parse_scene_id,
    region_traits,
    scene_days,
    scene_id,
    scene_weather,
    tile_of,
)
from collector.sources.synthetic.spectra import L1C_ORDER, atmosphere, cloud_spectrum
from shared.layout.bands import band_names
from shared.layout.encoding import CLOUD_CLEAR_BELOW
from shared.layout.native import FACTOR, BandImages, divides, group_bands

__all__ = ["SyntheticSource", "LOWRES_STEP"]

#: Smooth fields are computed every this many pixels and interpolated to full resolution.
LOWRES_STEP = 4


@dataclass(frozen=True)
class _Place:
    """What one location needs from every call: its grids, tile and climate."""

    location: Location
    tile: Tile
    coarse: CoarseGrid
    axes_full: GridAxes
    climate: Climate
    key: int


def _check_location(location: Location) -> None:
    if location.size < 2:
        raise ValueError(f"location.size must be at least 2 pixels, got {location.size}")
    a, b, _, d, e, _ = location.transform
    if b != 0 or d != 0 or a <= 0 or e >= 0:
        raise ValueError(f"location.transform must be a north-up grid, got {location.transform}")
    for start, end in location.windows:
        if not as_day(start) < as_day(end):
            raise ValueError(f"season window must have start < end, got ({start}, {end})")


def _sensor_pixels(radiance: np.ndarray, bands: Sequence[str]) -> BandImages:
    """Native pixels from (S, B, N, N) float DN on the 10 m grid, as the sensor measures them.

    A 20 m (60 m) detector integrates the light of its whole footprint: its DN is the mean
    of the 2×2 (6×6) 10 m values it covers. 10 m bands are kept as rendered. Values are
    cast to uint16 the way a 10 m render is (truncated), so 10 m bands equal the 10 m render.
    """
    bands = tuple(bands)
    arrays = {}
    for g, names in group_bands(bands).items():
        f = FACTOR[g]
        sel = radiance[:, [bands.index(b) for b in names]]
        if f > 1:
            s, k, n = sel.shape[0], sel.shape[1], sel.shape[-1]
            sel = sel.reshape(s, k, n // f, f, n // f, f).mean(axis=(3, 5), dtype=np.float32)
        out = np.empty(sel.shape, np.uint16)
        np.copyto(out, sel, casting="unsafe")
        arrays[g] = out
    return BandImages(bands, int(radiance.shape[-1]), arrays)


class SyntheticSource:
    """A generated Sentinel-2 world (SYNTHETIC: nothing here was observed).

    collection: ``"L1C"`` (top of atmosphere, 13 bands) or ``"L2A"`` (surface, 12 bands);
    bands: names to fetch in store order, ``None`` for all bands of the collection;
    seed: non-negative int, a different seed is a different world;
    granule_cloud_max: scenes whose granule cloud cover (percent) exceeds this are left out
    by :meth:`search`, as the real sources' server-side pre-filter does (100 keeps all);
    change_rate: probability that a location has a land-cover change event.
    """

    name: str = "synthetic"
    synthetic: bool = True
    facts = SourceFacts(True, ("L1C", "L2A"), RuntimeDefaults(None, None, 1, 1), truth=True)

    def __init__(
        self,
        collection: str = "L1C",
        bands: Sequence[str] | None = None,
        seed: int = 0,
        granule_cloud_max: float = 20.0,
        change_rate: float = 0.25,
    ) -> None:
        if collection not in ("L1C", "L2A"):
            raise ValueError(f"collection must be 'L1C' or 'L2A', got {collection!r}")
        available = band_names(collection)
        chosen = available if bands is None else tuple(bands)
        bad = [b for b in chosen if b not in available]
        if bad or not chosen or len(set(chosen)) != len(chosen):
            raise ValueError(
                f"bands must be distinct {collection} bands {list(available)}, got {list(chosen)}"
            )
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not 0 <= granule_cloud_max <= 100:
            raise ValueError(f"granule_cloud_max must be in [0, 100], got {granule_cloud_max}")
        if not 0 <= change_rate <= 1:
            raise ValueError(f"change_rate must be in [0, 1], got {change_rate}")
        self.collection: str = collection
        self.bands: tuple[str, ...] = chosen
        self.seed = int(seed)
        self.granule_cloud_max = float(granule_cloud_max)
        self.change_rate = float(change_rate)

    def __repr__(self) -> str:
        return (
            f"SyntheticSource(collection={self.collection!r}, bands={self.bands!r}, "
            f"seed={self.seed}, granule_cloud_max={self.granule_cloud_max:g}, "
            f"change_rate={self.change_rate:g})"
        )

    # -- the Source protocol ------------------------------------------------------------------

    def search(self, location: Location) -> list[list[Scene]]:
        """Scenes per season window, ascending in time, on the tile's 5-day revisit.

        Each scene has ``clear_fraction`` estimated on the patch from the cloud field at 1/4
        resolution (within a few percent of the fetched patch's own fraction). Scenes whose
        granule cloud cover exceeds ``granule_cloud_max`` are left out, so a window can be empty.
        """
        place = self._place(location)
        out: list[list[Scene]] = []
        for season, (start, end) in enumerate(location.windows):
            days = scene_days(self.seed, place.tile, start, end)
            wx = scene_weather(self.seed, place.tile, days)
            scenes = []
            for i, day in enumerate(days):
                pct = float(np.round(100.0 * wx.cloud_cover[i], 2))
                if pct > self.granule_cloud_max:
                    continue
                clear = self._clear_estimate(place, wx, i)
                scenes.append(
                    Scene(
                        id=scene_id(place.tile, day),
                        time=wx.time[i],
                        season=season,
                        cloud_percent=pct,
                        clear_fraction=clear,
                    )
                )
            out.append(scenes)
        return out

    def fetch(self, location: Location, scenes: Sequence[Scene]) -> Patch:
        """Render the given scenes (one per season, in the given order) on the location's grid.

        Returns pixels as :class:`~shared.layout.native.BandImages` at each band's native
        resolution (a 20/60 m pixel is the mean of the 10 m radiance over its footprint, as
        the sensor integrates it; (S, B, N, N) uint16 on the 10 m grid when N does not
        divide into 20/60 m pixels) and cloud (S, N, N) uint8 (cloud-or-shadow
        probability, %), with ground truth in ``extra``: ``landcover`` (S, N, N) uint8 class
        codes on each scene's date, ``change_mask`` (S, N, N) bool where that differs from the
        base land cover, and ``landcover_fraction`` (n_classes,) float32 shares of the base
        land cover (the cover before any change event, i.e. at the first season's date).
        Raises :class:`PermanentError` for a scene id that is not of this location's tile.
        """
        if len(scenes) == 0:
            raise ValueError("fetch needs at least one scene")
        place = self._place(location)
        days = [self._scene_day(place, scene) for scene in scenes]
        land = self._landscape(place)
        event = self._change(place, land)
        band_index = np.array([L1C_ORDER.index(b) for b in self.bands], dtype=np.intp)
        n, s = location.size, len(scenes)
        native = divides(n, self.bands)
        # radiance on the 10 m grid; 20/60 m bands are then integrated over their own pixels
        pixels = np.empty((s, band_index.size, n, n), np.float32 if native else np.uint16)
        cloud = np.empty((s, n, n), dtype=np.uint8)
        cover = np.empty((s, n, n), dtype=np.uint8)
        weather = scene_weather(self.seed, place.tile, np.array(days, dtype="datetime64[D]"))
        grounds: dict[bool, Ground] = {}
        for k, day in enumerate(days):
            classes = classes_at(land.classes, event, day)
            changed = classes is not land.classes
            if changed not in grounds:
                grounds[changed] = ground_state(land, classes)
            self._render(
                place,
                grounds[changed],
                land.parcel_keys,
                weather,
                k,
                band_index,
                pixels[k],
                cloud[k],
            )
            cover[k] = classes
        fractions = np.bincount(land.classes.ravel(), minlength=len(LANDCOVER_CLASSES))
        return Patch(
            pixels=_sensor_pixels(pixels, self.bands) if native else pixels,
            cloud=cloud,
            scenes=tuple(scenes),
            extra={
                "landcover": cover,
                "change_mask": cover != land.classes[None],
                "landcover_fraction": (fractions / land.classes.size).astype(np.float32),
            },
        )

    # -- ground truth ---------------------------------------------------------------------------

    def landcover(self, location: Location, time: np.datetime64) -> np.ndarray:
        """Land-cover class codes (N, N) uint8 of ``location`` on the date of ``time``."""
        place = self._place(location)
        land = self._landscape(place)
        return classes_at(land.classes, self._change(place, land), as_day(time))

    def change_event(self, location: Location) -> ChangeEvent | None:
        """The location's change event (kind, day, target class, mask), or ``None``."""
        place = self._place(location)
        return self._change(place, self._landscape(place))

    # -- internals --------------------------------------------------------------------------------

    def _place(self, location: Location) -> _Place:
        _check_location(location)
        x0, y0 = location.transform[2], location.transform[5]
        half = location.size * location.transform[0] / 2
        cx, cy = x0 + half, y0 - half
        _, continental, dry = region_traits(self.seed, location.epsg, cx, cy)
        return _Place(
            location=location,
            tile=tile_of(location.epsg, cx, cy),
            coarse=coarse_grid(location.transform, location.size, LOWRES_STEP),
            axes_full=patch_axes(location.transform, location.size, 1),
            climate=Climate(location.lat, continental, dry),
            key=mix_words(location.epsg, round(x0), round(y0), location.size),
        )

    def _landscape(self, place: _Place) -> Landscape:
        return build_landscape(
            self.seed,
            place.location.epsg,
            place.coarse,
            place.axes_full,
            place.tile.key(self.seed, Tag.PARCEL),
        )

    def _change(self, place: _Place, land: Landscape) -> ChangeEvent | None:
        key = mix_words(self.seed, Tag.CHANGE, place.key)
        return plan_change(
            key, land.classes, place.location.windows, self.change_rate, land.elevation
        )

    def _scene_day(self, place: _Place, scene: Scene) -> np.datetime64:
        try:
            tile_name, day = parse_scene_id(scene.id)
        except ValueError as e:
            raise PermanentError(str(e)) from e
        if tile_name != place.tile.name:
            raise PermanentError(
                f"scene {scene.id} is of tile {tile_name}, location {place.location.candidate_id} "
                f"lies in tile {place.tile.name}"
            )
        return day

    def _geometry(self, wx: SceneWeather, i: int) -> CloudGeometry:
        return CloudGeometry(
            cover=float(wx.cloud_cover[i]),
            tau_max=float(wx.tau_max[i]),
            height_m=float(wx.cloud_height[i]),
            sun_elevation=float(wx.sun_elevation[i]),
            sun_azimuth=float(wx.sun_azimuth[i]),
        )

    def _clear_estimate(self, place: _Place, wx: SceneWeather, i: int) -> float:
        geometry = self._geometry(wx, i)
        day_number = int(wx.day[i].astype(np.int64))
        fields = cloud_fields(
            self.seed, place.location.epsg, day_number, place.coarse.axes, geometry
        )
        if fields is None:
            return 1.0
        prob = cloud_layer(*fields, geometry).probability
        return float(np.count_nonzero(prob < CLOUD_CLEAR_BELOW) / prob.size)

    def _render(
        self,
        place: _Place,
        ground: Ground,
        parcel_keys: np.ndarray,
        wx: SceneWeather,
        i: int,
        band_index: np.ndarray,
        pixels: np.ndarray,
        cloud: np.ndarray,
    ) -> None:
        day = wx.day[i]
        geometry = self._geometry(wx, i)
        fields = cloud_fields(
            self.seed, place.location.epsg, int(day.astype(np.int64)), place.coarse.axes, geometry
        )
        layer = None
        if fields is not None:
            low = cloud_layer(*fields, geometry)
            if float(low.tau.max()) > 0 or float(low.shade.max()) > 0:
                layer = low.upsampled(place.coarse)
        lat = place.location.lat
        doy_h = float(hemisphere_doy(lat, day_of_year(np.array([day])))[0])
        parcel_key = mix_words(self.seed, Tag.PARCEL, place.location.epsg)
        weights = unit_weights(place.climate, doy_h, parcel_key, parcel_keys)
        temp = float(place.climate.temperature(doy_h)) + float(wx.temp_anomaly[i])
        el = float(wx.sun_elevation[i])
        atmos = atmosphere(self.collection, el, float(wx.aod[i]))
        light = min(1.0, 0.7 + 0.5 * np.sin(np.radians(max(el, 0.0))))
        spectrum = cloud_spectrum(float(wx.cloud_brightness[i]) * light, float(wx.cirrus[i]))
        render_scene(ground, weights, temp, atmos, band_index, layer, spectrum, pixels, cloud)
