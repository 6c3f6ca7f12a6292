"""Which arrays a layout version has, by name: pixel, image, coordinate and per-shard arrays.

Names only, from a :class:`~shared.layout.spec.StoreSpec` and a layout version; their
definitions are in :mod:`shared.layout.arrays`.
"""

from __future__ import annotations

from shared.layout.spec import LAYOUT_VERSION, StoreSpec

__all__ = [
    "pixel_arrays",
    "image_arrays",
    "coordinate_axes",
    "coordinate_arrays",
    "SHARD_ARRAYS",
    "shard_arrays",
]


def coordinate_axes(spec: StoreSpec, version: int) -> list[tuple[str, str, int]]:
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
    return tuple(name for name, _, _ in coordinate_axes(spec, version))


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
