"""The one definition of every array of the layout: its dims, chunks, shards, codecs, attributes.

A store is one Zarr v3 group. Pixel data is sharded so that a shard holds ``shard_samples``
whole samples (written in one go by one writer) while the unit of reading is one
``(sample, season, band)`` image, so reading 3 of 4 seasons or 3 of 13 bands decodes only
those. Every per-sample array is chunked by the same ``shard_samples``, so the writer of a
shard touches its own objects only. ``shard_done[i]`` is set after everything else of shard
``i`` is written: a shard without it is not part of the dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import zarr
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from shared.layout.array_names import coordinate_axes
from shared.layout.cf import cf_attrs
from shared.layout.encoding import (
    CLOUD_CLEAR_BELOW,
    CLOUD_DESCRIPTION,
    CLOUD_NODATA,
    NATIVE_PIXEL_DESCRIPTION,
    PIXEL_DESCRIPTION,
    TIME_FILL,
    TIME_UNITS,
)
from shared.layout.native import FACTOR
from shared.layout.spec import LAYOUT_VERSION, StoreSpec

__all__ = ["IMAGE_ZSTD_LEVEL", "ArrayDef", "array_defs"]

IMAGE_ZSTD_LEVEL = 1  # Blosc zstd level of pixels and cloud (see ArrayDef.create)


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
            for name, res, side in coordinate_axes(spec, version)
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
