"""The store layout, version 3: the one definition of every array, its dims, chunks and shards.

A store is one Zarr v3 group. Pixel data is sharded so that a shard holds ``shard_samples``
whole samples (written in one go by one writer) while the unit of reading is one
``(sample, season, band)`` image, so reading 3 of 4 seasons or 3 of 13 bands decodes only
those. Every per-sample array is chunked by the same ``shard_samples``, so the writer of a
shard touches its own objects only. ``shard_done[i]`` is set after everything else of shard
``i`` is written: a shard without it is not part of the dataset.

Version 2 adds per-sample pixel-centre coordinates ``x (sample, x)`` and ``y (sample, y)`` in
the sample CRS's units and CF attributes on every array (:mod:`shared.layout.cf`); version-1 stores
stay readable and ``python -m shared upgrade`` brings them to version 2 in place.

Version 3 keeps every band at the resolution Sentinel-2 measured it
(:mod:`shared.layout.native`): one image array per resolution group the store's bands need,
``pixels_10m (sample, season, band_10m, y, x)``, ``pixels_20m (…, band_20m, y_20m, x_20m)``
(``size/2`` a side) and ``pixels_60m (…, band_60m, y_60m, x_60m)`` (``size/6``), each with its
own band names and pixel-centre coordinates; ``cloud`` stays on the 10 m grid. The root
attribute ``bands`` keeps every band in the user's order and ``band_groups`` each band's group.
``upgrade`` turns a version-2 store into version 3 by exact decimation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from shared.layout.bands import COLLECTIONS, bands_for
from shared.layout.cf import cf_attrs
from shared.layout.georef import CRS_UNITS
from shared.layout.native import FACTOR, check_size, group_bands, group_size

__all__ = [
    "LAYOUT_VERSION",
    "READABLE_VERSIONS",
    "TIME_UNITS",
    "CLOUD_CLEAR_BELOW",
    "StoreSpec",
    "ArrayDef",
    "shard_arrays",
    "array_defs",
    "pixel_arrays",
    "image_arrays",
    "coordinate_arrays",
    "software_version",
]

LAYOUT_VERSION = 3
#: Layout versions this software reads (and writes shards into); older ones upgrade in place.
READABLE_VERSIONS = (1, 2, 3)
#: Arrays that layout version 2 added (``python -m shared upgrade`` creates them).
ADDED_IN_V2 = ("x", "y")
TIME_UNITS = "milliseconds since 1970-01-01T00:00:00"
TIME_FILL = np.iinfo(np.int64).min
IMAGE_ZSTD_LEVEL = 1  # Blosc zstd level of pixels and cloud (see ArrayDef.create)
#: ``cloud`` holds a cloud probability in percent (0 clear … 100 cloud, 255 no data);
#: a pixel counts as clear below this value (Cloud Score+ ``cs_cdf ≥ 0.6`` ⇔ cloud < 40).
CLOUD_CLEAR_BELOW = 40
CLOUD_NODATA = 255

PIXEL_DESCRIPTION = "harmonized Sentinel-2 DN = reflectance x 10000 on the 10 m grid; 0 = no data"
NATIVE_PIXEL_DESCRIPTION = (
    "harmonized Sentinel-2 DN = reflectance x 10000 at the band's native {res} resolution; "
    "0 = no data"
)
CLOUD_DESCRIPTION = (
    "cloud or shadow probability in percent: 0 clear .. 100 cloud; 255 no data; "
    f"clear when < {CLOUD_CLEAR_BELOW}"
)


def software_version() -> str:
    """Version of the installed distribution, or ``"unknown"`` when run from a bare checkout."""
    try:
        return f"seco-pipeline {version('seco-pipeline')}"
    except PackageNotFoundError:
        return "seco-pipeline unknown"


@dataclass(frozen=True)
class StoreSpec:
    """Shape of a store: how many samples, seasons, which bands, patch size, shard size."""

    n_samples: int
    n_seasons: int = 4
    bands: tuple[str, ...] = field(default_factory=lambda: tuple(b.name for b in bands_for("L1C")))
    size: int = 264
    shard_samples: int = 16
    collection: str = "L1C"
    resolution_m: float = 10.0
    #: names of land-cover classes when the store carries ground truth (synthetic stores)
    truth_classes: tuple[str, ...] = ()
    #: unit of every sample CRS's axes, as pyproj names it: ``"metre"`` (UTM) or ``"degree"``
    #: (EPSG:4326); sets the units of ``x``, ``y`` and ``transform``
    crs_units: str = "metre"

    def __post_init__(self) -> None:
        for name in ("n_samples", "n_seasons", "size", "shard_samples"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.collection not in COLLECTIONS:
            raise ValueError(
                f"collection must be one of {', '.join(COLLECTIONS)}, got {self.collection!r}"
            )
        known = [b.name for b in bands_for(self.collection)]
        object.__setattr__(self, "bands", tuple(self.bands))
        bad = [b for b in self.bands if b not in known]
        if not self.bands or bad:
            raise ValueError(
                f"bands must be a non-empty subset of {self.collection} bands {known}, got {list(self.bands)}"
            )
        if len(set(self.bands)) != len(self.bands):
            raise ValueError(f"bands repeat: {list(self.bands)}")
        if self.resolution_m <= 0:
            raise ValueError(f"resolution_m must be positive, got {self.resolution_m}")
        object.__setattr__(self, "truth_classes", tuple(self.truth_classes))
        if len(self.truth_classes) > 254:
            raise ValueError("at most 254 land-cover classes (255 is no data)")
        if self.crs_units not in CRS_UNITS:
            raise ValueError(
                f"crs_units must be one of {', '.join(CRS_UNITS)}, got {self.crs_units!r}"
            )

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    @property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Bands of each resolution group present (``"10m"``, ``"20m"``, ``"60m"``), in band order."""
        return group_bands(self.bands)

    def group_size(self, group: str) -> int:
        """Pixels a side of a resolution group's grid (``size``, ``size/2``, ``size/6``)."""
        return group_size(self.size, group)

    def check_native(self) -> None:
        """Raise ``ValueError`` unless ``size`` divides into the 20/60 m grids its bands need."""
        check_size(self.size, self.bands)

    @property
    def n_shards(self) -> int:
        return -(-self.n_samples // self.shard_samples)

    def shard_slice(self, shard: int) -> slice:
        """Sample range of one shard (the last one may be short)."""
        if not 0 <= shard < self.n_shards:
            raise IndexError(f"shard {shard} outside 0..{self.n_shards - 1}")
        start = shard * self.shard_samples
        return slice(start, min(start + self.shard_samples, self.n_samples))

    @property
    def has_truth(self) -> bool:
        return bool(self.truth_classes)

    def to_attrs(self) -> dict[str, Any]:
        d = asdict(self)
        d["bands"] = list(self.bands)
        d["band_groups"] = {b: g for g, bs in self.groups.items() for b in bs}
        d["truth_classes"] = list(self.truth_classes)
        return d

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> StoreSpec:
        return cls(
            n_samples=int(attrs["n_samples"]),
            n_seasons=int(attrs["n_seasons"]),
            bands=tuple(attrs["bands"]),
            size=int(attrs["size"]),
            shard_samples=int(attrs["shard_samples"]),
            collection=str(attrs["collection"]),
            resolution_m=float(attrs["resolution_m"]),
            truth_classes=tuple(attrs.get("truth_classes", ())),
            crs_units=str(attrs.get("crs_units", "metre")),  # version-1 stores: UTM only
        )


@dataclass(frozen=True)
class ArrayDef:
    """One array of the layout: dims, shape, chunking, dtype, fill value, codecs, attributes."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    dtype: Any
    fill_value: Any
    attrs: dict[str, Any]
    image: bool = False

    def create(self, group: zarr.Group) -> zarr.Array:
        compressors: Any
        if self.image:
            # byte shuffle + zstd: ~25 % smaller and faster to decode than plain zstd on
            # uint16 imagery. Level 1: 5× faster to write than level 5 for ~1 % more bytes
            # (measured on 13-band shards). Blosc carries no checksum: crc32c guards each chunk.
            compressors = [
                BloscCodec(cname="zstd", clevel=IMAGE_ZSTD_LEVEL, shuffle="shuffle"),
                Crc32cCodec(),
            ]
        else:
            compressors = [ZstdCodec(level=3, checksum=True)]
        return group.create_array(
            self.name,
            shape=self.shape,
            chunks=self.chunks,
            shards=self.shards,
            dtype=self.dtype,
            fill_value=self.fill_value,
            compressors=compressors,
            dimension_names=list(self.dims),
            attributes=self.attrs,
        )


def _season_image(name: str, spec: StoreSpec, fill: int, attrs: dict[str, Any]) -> ArrayDef:
    """A (sample, season, y, x) uint8 image array, sharded like ``pixels``."""
    n, s, y, k = spec.n_samples, spec.n_seasons, spec.size, spec.shard_samples
    return ArrayDef(
        name,
        ("sample", "season", "y", "x"),
        (n, s, y, y),
        (1, 1, y, y),
        (k, s, y, y),
        "uint8",
        fill,
        attrs,
        image=True,
    )


def array_defs(spec: StoreSpec, version: int = LAYOUT_VERSION) -> dict[str, ArrayDef]:
    """Every array of a layout version (default: the current one) for a given spec, by name.

    Attributes are the version-2 ones (CF, :func:`shared.layout.cf.cf_attrs`) whatever ``version``.
    """
    n, s, b = spec.n_samples, spec.n_seasons, spec.n_bands
    k = spec.shard_samples
    coords = {"coordinates": "lon lat time"}
    defs = [
        *_pixel_defs(spec, version),
        _season_image(
            "cloud",
            spec,
            CLOUD_NODATA,
            {"description": CLOUD_DESCRIPTION, "clear_below": CLOUD_CLEAR_BELOW, **coords},
        ),
        ArrayDef(
            "clear_fraction",
            ("sample", "season"),
            (n, s),
            (k, s),
            None,
            "float32",
            float("nan"),
            {"description": "fraction of the patch's pixels that are clear"},
        ),
        ArrayDef(
            "time",
            ("sample", "season"),
            (n, s),
            (k, s),
            None,
            "int64",
            int(TIME_FILL),
            {
                "description": "acquisition time of the chosen scene (UTC)",
                "units": TIME_UNITS,
                "calendar": "proleptic_gregorian",
            },
        ),
        ArrayDef(
            "product_id",
            ("sample", "season"),
            (n, s),
            (k, s),
            None,
            str,
            "",
            {"description": "identifier of the chosen scene in its source"},
        ),
        ArrayDef(
            "lon",
            ("sample",),
            (n,),
            (k,),
            None,
            "float64",
            float("nan"),
            {"units": "degrees_east", "description": "patch centre longitude (WGS 84)"},
        ),
        ArrayDef(
            "lat",
            ("sample",),
            (n,),
            (k,),
            None,
            "float64",
            float("nan"),
            {"units": "degrees_north", "description": "patch centre latitude (WGS 84)"},
        ),
        ArrayDef(
            "epsg",
            ("sample",),
            (n,),
            (k,),
            None,
            "int32",
            0,
            {"description": "EPSG code of the patch's UTM grid"},
        ),
        ArrayDef(
            "transform",
            ("sample", "affine"),
            (n, 6),
            (k, 6),
            None,
            "float64",
            float("nan"),
            {
                "description": "affine transform of the patch grid, rasterio order (a, b, c, d, e, f)"
            },
        ),
        *(
            ArrayDef(
                name,
                ("sample", name),
                (n, side),
                (k, side),
                None,
                "float64",
                float("nan"),
                {
                    "description": f"{name[0]} of each {res} pixel centre in the sample's CRS "
                    "(see epsg)"
                },
            )
            for name, res, side in _coordinate_axes(spec, version)
        ),
        ArrayDef(
            "candidate_id",
            ("sample",),
            (n,),
            (k,),
            None,
            "int64",
            -1,
            {"description": "row of the candidate in plan.parquet that filled this slot"},
        ),
        ArrayDef(
            "valid",
            ("sample",),
            (n,),
            (k,),
            None,
            "bool",
            False,
            {
                "description": "true when the slot holds a sample (a slot stays empty when "
                "every candidate of its shard was rejected)"
            },
        ),
        ArrayDef(
            "shard_done",
            ("shard",),
            (spec.n_shards,),
            (1,),
            None,
            "uint8",
            0,
            {"description": "1 once every array of the shard is written (done-marker)"},
        ),
        ArrayDef("band", ("band",), (b,), (b,), None, str, "", {"description": "band name"}),
        *(
            ArrayDef(
                f"band_{g}",
                (f"band_{g}",),
                (len(bs),),
                (len(bs),),
                None,
                str,
                "",
                {"description": f"names of the {g} bands (pixels_{g})"},
            )
            for g, bs in (spec.groups.items() if version >= 3 else ())
        ),
        *(
            [
                _season_image(
                    "landcover",
                    spec,
                    255,
                    {
                        "description": "ground-truth land cover on each season's date (index "
                        "into the root attribute truth_classes); 255 = no data. Only in "
                        "stores of the synthetic world",
                        **coords,
                    },
                )
            ]
            if spec.has_truth
            else []
        ),
        ArrayDef(
            "season", ("season",), (s,), (s,), None, "int16", -1, {"description": "season index"}
        ),
    ]
    cf = cf_attrs(spec)
    return {d.name: replace(d, attrs={**d.attrs, **cf.get(d.name, {})}) for d in defs}


def _pixel_defs(spec: StoreSpec, version: int) -> list[ArrayDef]:
    """``pixels`` on the 10 m grid (versions 1–2) or one ``pixels_<group>`` per group (3)."""
    n, s, b, y, k = spec.n_samples, spec.n_seasons, spec.n_bands, spec.size, spec.shard_samples
    attrs = {"scale_factor_to_reflectance": 1e-4, "coordinates": "lon lat time"}
    if version < 3:
        return [
            ArrayDef(
                "pixels",
                ("sample", "season", "band", "y", "x"),
                (n, s, b, y, y),
                (1, 1, 1, y, y),
                (k, s, b, y, y),
                "uint16",
                0,
                {"description": PIXEL_DESCRIPTION, **attrs},
                image=True,
            )
        ]
    spec.check_native()
    out = []
    for g, bands in spec.groups.items():
        side, nb = spec.group_size(g), len(bands)
        suffix = "" if g == "10m" else f"_{g}"
        out.append(
            ArrayDef(
                f"pixels_{g}",
                ("sample", "season", f"band_{g}", f"y{suffix}", f"x{suffix}"),
                (n, s, nb, side, side),
                (1, 1, 1, side, side),
                (k, s, nb, side, side),
                "uint16",
                0,
                {
                    "description": NATIVE_PIXEL_DESCRIPTION.format(res=g.replace("m", " m")),
                    "resolution_m": 10.0 * FACTOR[g],
                    **attrs,
                },
                image=True,
            )
        )
    return out


def _coordinate_axes(spec: StoreSpec, version: int) -> list[tuple[str, str, int]]:
    """``(name, resolution, pixels)`` of each pixel-centre coordinate array of a version."""
    if version < 2:
        return []
    out = [("x", "10m", spec.size), ("y", "10m", spec.size)]
    if version >= 3:
        for g in spec.groups:
            if g != "10m":
                side = spec.group_size(g)
                out += [(f"x_{g}", g, side), (f"y_{g}", g, side)]
    return out


def pixel_arrays(spec: StoreSpec, version: int = LAYOUT_VERSION) -> tuple[str, ...]:
    """Names of the pixel arrays of a layout version: ``pixels`` or ``pixels_<group>``…"""
    return ("pixels",) if version < 3 else tuple(f"pixels_{g}" for g in spec.groups)


def image_arrays(spec: StoreSpec, version: int = LAYOUT_VERSION) -> tuple[str, ...]:
    """Every sharded image array (one inner chunk per image): pixels, cloud, landcover."""
    return pixel_arrays(spec, version) + ("cloud",) + (("landcover",) if spec.has_truth else ())


def coordinate_arrays(spec: StoreSpec, version: int = LAYOUT_VERSION) -> tuple[str, ...]:
    """Per-sample pixel-centre coordinate arrays: ``x``, ``y`` (v2+), ``x_20m``… (v3)."""
    return tuple(name for name, _, _ in _coordinate_axes(spec, version))


#: Arrays written per shard, in write order (``shard_done`` comes last, separately); a store
#: with ground truth also writes ``landcover`` (see :func:`shard_arrays`).
SHARD_ARRAYS = (
    "pixels",
    "cloud",
    "clear_fraction",
    "time",
    "product_id",
    "lon",
    "lat",
    "epsg",
    "transform",
    "x",
    "y",
    "candidate_id",
    "valid",
)


def shard_arrays(spec: StoreSpec, version: int = LAYOUT_VERSION) -> tuple[str, ...]:
    """Names of the arrays every shard write fills, for this store's spec and layout version."""
    names: list[str] = []
    for a in SHARD_ARRAYS:
        if a == "pixels":
            names += pixel_arrays(spec, version)
        elif a == "x":
            names += coordinate_arrays(spec, version)
        elif a != "y":
            names.append(a)
    return tuple(names) + (("landcover",) if spec.has_truth else ())
