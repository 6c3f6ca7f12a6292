"""Land cover of the synthetic world: eight classes laid out by smooth ground-tied fields.

Four independent fields, each a multi-octave value noise in UTM metres (see ``noise``) close
to unit normal, decide a pixel's class: *terrain* (low ground → water, high ground → snow/ice),
*settlement* (→ urban), *moisture* (dry → bare soil → grassland → cropland → forest, wet) and
*forest type* (deciduous or evergreen). The share of each class follows latitude (desert belts
around 25°, boreal forest around 60°, ice towards the poles) and the low octaves make whole
regions wetter, drier or more built-up, so proportions vary from patch to patch. The map is a
function of ground coordinates only, identical in every season; change events (``changes``)
are the only way it moves.

Cropland is cut into parcels, rectangles on a lattice whose size is drawn per region and whose
rows are staggered; each parcel has its own crop calendar (``phenology``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from collector.sources.synthetic.hashing import Tag, hash_uniform, mix_words
from collector.sources.synthetic.noise import CoarseGrid, GridAxes, value_noise, value_noise_stack

__all__ = [
    "LANDCOVER_CLASSES",
    "WATER",
    "EVERGREEN_FOREST",
    "DECIDUOUS_FOREST",
    "CROPLAND",
    "GRASSLAND",
    "URBAN",
    "BARE_SOIL",
    "SNOW_ICE",
    "N_VARIANTS",
    "class_proportions",
    "ground_latitude",
    "Landscape",
    "build_landscape",
]

#: Land-cover class names; a class's code (uint8) is its index here.
LANDCOVER_CLASSES: tuple[str, ...] = (
    "water",
    "evergreen_forest",
    "deciduous_forest",
    "cropland",
    "grassland",
    "urban",
    "bare_soil",
    "snow_ice",
)
WATER = 0
EVERGREEN_FOREST = 1
DECIDUOUS_FOREST = 2
CROPLAND = 3
GRASSLAND = 4
URBAN = 5
BARE_SOIL = 6
SNOW_ICE = 7

#: Sub-types per class (slightly shifted phenology and tone) for within-class variety.
N_VARIANTS = 4

_PROP_LAT = np.array([0.0, 15.0, 25.0, 35.0, 45.0, 55.0, 65.0, 75.0, 90.0])
# columns: water, evergreen, deciduous, cropland, grassland, urban, bare soil, snow/ice
_PROP_TABLE = np.array(
    [
        [0.07, 0.38, 0.05, 0.20, 0.14, 0.10, 0.06, 0.00],
        [0.06, 0.15, 0.12, 0.25, 0.22, 0.10, 0.10, 0.00],
        [0.05, 0.04, 0.03, 0.15, 0.18, 0.10, 0.45, 0.00],
        [0.06, 0.10, 0.08, 0.28, 0.20, 0.11, 0.16, 0.01],
        [0.07, 0.12, 0.20, 0.30, 0.16, 0.11, 0.03, 0.01],
        [0.08, 0.26, 0.16, 0.22, 0.14, 0.10, 0.02, 0.02],
        [0.10, 0.40, 0.08, 0.06, 0.16, 0.06, 0.06, 0.08],
        [0.10, 0.08, 0.02, 0.00, 0.30, 0.03, 0.25, 0.22],
        [0.05, 0.00, 0.00, 0.00, 0.05, 0.00, 0.30, 0.60],
    ]
)
_PROP_TABLE = _PROP_TABLE / _PROP_TABLE.sum(axis=1, keepdims=True)

# Lattice spacings (m) shared by the ground fields and each field's weight per spacing: the
# low octaves set a region's character, the high ones draw the shapes inside a 2.6 km patch.
_SPACINGS = (30000.0, 9000.0, 3000.0, 1000.0, 350.0, 150.0)
_FIELD_WEIGHTS = np.array(
    [
        [1.0, 0.7, 0.6, 0.45, 0.25, 0.1],  # terrain
        [1.0, 0.8, 0.6, 0.45, 0.3, 0.15],  # settlement
        [1.0, 0.8, 0.75, 0.6, 0.35, 0.2],  # moisture
        [0.0, 1.0, 0.6, 0.3, 0.1, 0.0],  # forest type
        [0.0, 0.0, 1.0, 0.6, 0.3, 0.0],  # variant
    ]
)
_TEXTURE = ((90.0, 1.0), (30.0, 0.8))


def class_proportions(lat: float | np.ndarray) -> np.ndarray:
    """Expected share of each class at a latitude (degrees): (8,) float64 summing to 1, or
    (n, 8) for an array of n latitudes."""
    a = np.abs(np.asarray(lat, dtype=np.float64))
    if not np.all(np.isfinite(a)) or np.any(a > 90):
        raise ValueError(f"latitude must lie in [-90, 90], got {lat}")
    return np.stack([np.interp(a, _PROP_LAT, _PROP_TABLE[:, k]) for k in range(8)], axis=-1)


def ground_latitude(epsg: int, northing: np.ndarray) -> np.ndarray:
    """Approximate latitude (degrees) from a UTM northing alone (≈ 111 km per degree).

    Good to a fraction of a degree, and a function of the ground position only, so that the
    class shares of overlapping patches agree exactly.
    """
    south = int(epsg) // 100 == 327
    return (np.asarray(northing, np.float64) - (10_000_000.0 if south else 0.0)) / 110_900.0


def _z(p: float | np.ndarray) -> np.ndarray:
    """Field value below which a share ``p`` of a unit normal field lies (logistic Φ⁻¹)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(q / (1 - q)) / 1.702


@dataclass(frozen=True)
class Landscape:
    """Everything about a patch's ground that does not change with the date.

    classes: (N, N) uint8 base land cover (before change events);
    elevation: (N, N) float32 relative height, ≈ unit normal over the world;
    variant: (N, N) uint8 in [0, N_VARIANTS);
    parcel: (N, N) int32 local parcel index (defined on every pixel, used where cropland);
    parcel_keys: (P, 2) int64 ground lattice indices of the local parcels (rows, columns);
    texture: (N, N) float32 brightness noise, zero mean (scaled per class by the renderer);
    fabric: (N, N) float32 brightness of built-up ground: streets dark, roofs varied;
    white: (N, N) float32 per-pixel uniform noise in [0, 1).
    """

    classes: np.ndarray
    elevation: np.ndarray
    variant: np.ndarray
    parcel: np.ndarray
    parcel_keys: np.ndarray
    texture: np.ndarray
    fabric: np.ndarray
    white: np.ndarray


def _assign_classes(
    lat: np.ndarray, terrain: np.ndarray, settle: np.ndarray, wet: np.ndarray, ftype: np.ndarray
) -> np.ndarray:
    """Class codes from four unit-normal fields; thresholds from the class shares at each
    row's latitude ``lat`` (N,)."""
    p = class_proportions(np.clip(lat, -90.0, 90.0)).T[:, :, None]  # (8, N, 1): one per row
    out = np.full(terrain.shape, GRASSLAND, dtype=np.uint8)
    rest = np.maximum(1.0 - p[WATER] - p[SNOW_ICE], 1e-6)
    land_rest = np.maximum(rest - p[URBAN], 1e-6)
    # moisture ladder over what is neither water, ice nor town: bare < grass < crop < forest
    bare_cut = _z(p[BARE_SOIL] / land_rest)
    grass_cut = _z((p[BARE_SOIL] + p[GRASSLAND]) / land_rest)
    crop_cut = _z((p[BARE_SOIL] + p[GRASSLAND] + p[CROPLAND]) / land_rest)
    out[wet < bare_cut] = BARE_SOIL
    out[(wet >= grass_cut) & (wet < crop_cut)] = CROPLAND
    forest = wet >= crop_cut
    forest_total = np.maximum(p[EVERGREEN_FOREST] + p[DECIDUOUS_FOREST], 1e-6)
    deciduous = ftype < _z(p[DECIDUOUS_FOREST] / forest_total)
    out[forest & deciduous] = DECIDUOUS_FOREST
    out[forest & ~deciduous] = EVERGREEN_FOREST
    out[settle > _z(1.0 - p[URBAN] / rest)] = URBAN
    out[terrain < _z(p[WATER])] = WATER
    out[terrain > _z(1.0 - p[SNOW_ICE])] = SNOW_ICE
    return out


def _parcels(key: int, axes: GridAxes, seed_region: int) -> tuple[np.ndarray, np.ndarray]:
    """Staggered rectangular parcels; sizes drawn per region (tile)."""
    u = hash_uniform(seed_region, np.arange(2))
    px, py = 150.0 + 450.0 * u[0], 120.0 + 380.0 * u[1]
    ys, xs = axes.ys, axes.xs
    jy = np.floor(ys / py).astype(np.int64)
    stagger = hash_uniform(key, jy) * px  # each parcel row shifted by its own amount
    jx = np.floor((xs[None, :] + stagger[:, None]) / px).astype(np.int64)
    jy0, jx0 = int(jy.min()), int(jx.min())
    ny, nx = int(jy.max()) - jy0 + 1, int(jx.max()) - jx0 + 1
    local = ((jy[:, None] - jy0) * nx + (jx - jx0)).astype(np.int32)
    ids = np.arange(ny * nx)  # a few ids of the staggered rectangle may go unused
    keys = np.stack([ids // nx + jy0, ids % nx + jx0], axis=1)
    return local, keys


def _urban_fabric(key: int, axes: GridAxes, region_key: int) -> np.ndarray:
    """Street grid (spacing drawn per region, 90–180 m) and 20 m roofs of random brightness."""
    u = hash_uniform(region_key, np.arange(2, 4))
    gx = np.round(axes.xs / 10.0).astype(np.int64)
    gy = np.round(axes.ys / 10.0).astype(np.int64)
    bx, by = gx // 2, gy // 2
    roofs = hash_uniform(
        key, np.arange(by.min(), by.max() + 1)[:, None], np.arange(bx.min(), bx.max() + 1)[None, :]
    )
    fabric = (0.75 + 0.5 * roofs.astype(np.float32))[np.ix_(by - by.min(), bx - bx.min())]
    fabric[(gy % int(9 + 10 * u[1])) == 0, :] = 0.7
    fabric[:, (gx % int(9 + 10 * u[0])) == 0] = 0.7
    return fabric


def build_landscape(
    seed: int,
    epsg: int,
    coarse: CoarseGrid,
    axes_full: GridAxes,
    region_key: int,
) -> Landscape:
    """The date-independent ground of one patch.

    Smooth fields are computed on the ``coarse`` ground lattice and interpolated to the pixel
    centres ``axes_full``. ``region_key`` identifies the region (tile) for parcel sizes.
    """
    low = value_noise_stack(
        mix_words(seed, Tag.GROUND, epsg), coarse.axes, _SPACINGS, _FIELD_WEIGHTS
    )
    terrain, settle, wet, ftype, variant_z = coarse.upsample(low)
    classes = _assign_classes(ground_latitude(epsg, axes_full.ys), terrain, settle, wet, ftype)
    variant = np.zeros(variant_z.shape, dtype=np.uint8)
    for cut in _z(np.arange(1, N_VARIANTS) / N_VARIANTS):
        variant += variant_z > np.float32(cut)

    tex_key = mix_words(seed, Tag.TEXTURE, epsg)
    fine = value_noise(tex_key, axes_full, _TEXTURE)
    iy = np.round(axes_full.ys / 10.0).astype(np.int64)[:, None]
    ix = np.round(axes_full.xs / 10.0).astype(np.int64)[None, :]
    white = hash_uniform(tex_key, iy, ix).astype(np.float32)
    texture = np.float32(0.65) * fine + np.float32(1.2) * (white - np.float32(0.5))

    parcel, parcel_keys = _parcels(mix_words(seed, Tag.PARCEL, epsg), axes_full, region_key)
    fabric = _urban_fabric(mix_words(tex_key, 1), axes_full, region_key)
    return Landscape(
        classes=classes,
        elevation=terrain,
        variant=variant,
        parcel=parcel,
        parcel_keys=parcel_keys,
        texture=texture,
        fabric=fabric,
        white=white,
    )
