"""Sentinel-2 resolution groups and images of several bands kept at their native resolutions.

Sentinel-2 measures 4 bands at 10 m, 6 at 20 m and 3 at 60 m. Layout 3 stores each group at
its own resolution: for a patch of ``size`` pixels at 10 m the 20 m bands are ``size/2`` and
the 60 m bands ``size/6`` pixels a side, on grids that share the patch's upper-left corner
(which lies on the 60 m lattice, see :mod:`shared.layout.grid`), so one 20 m pixel covers
exactly 2×2 and one 60 m pixel 6×6 pixels of the 10 m grid.

:class:`BandImages` carries such arrays with common leading axes (scenes, seasons, samples)
and converts to and from the single 10 m grid: :meth:`BandImages.from_grid` by exact
decimation (one pixel of each block, exact where the 10 m pixels are 2×2/6×6 blocks, as
nearest resampling gives), :meth:`BandImages.to_grid` by nearest (block repeat) or bilinear
upsampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.layout.bands import L1C_BANDS

__all__ = [
    "GROUPS",
    "FACTOR",
    "RESAMPLING",
    "band_group",
    "group_bands",
    "divides",
    "group_size",
    "check_size",
    "decimate",
    "is_blocky",
    "upsample",
    "group_transform",
    "BandImages",
]

#: Resolution groups in store order, with each group's pixel size relative to 10 m.
FACTOR: dict[str, int] = {"10m": 1, "20m": 2, "60m": 6}
GROUPS: tuple[str, ...] = tuple(FACTOR)
#: How :meth:`BandImages.to_grid` may bring 20/60 m bands onto the 10 m grid.
RESAMPLING = ("nearest", "bilinear")
_GROUP_OF = {b.name: f"{b.resolution_m}m" for b in L1C_BANDS}


def band_group(name: str) -> str:
    """Resolution group (``"10m"``, ``"20m"``, ``"60m"``) of a Sentinel-2 band name."""
    try:
        return _GROUP_OF[name]
    except KeyError:
        raise KeyError(f"unknown band {name!r}") from None


def group_bands(bands: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The bands of each non-empty group, in the order given, groups in 10/20/60 m order."""
    out = {g: tuple(b for b in bands if band_group(b) == g) for g in GROUPS}
    return {g: v for g, v in out.items() if v}


def group_size(size: int, group: str) -> int:
    """Pixels a side of ``group``'s grid for a patch of ``size`` pixels at 10 m."""
    return size // FACTOR[group]


def group_transform(transform: np.ndarray, group: str) -> np.ndarray:
    """Rasterio-order affine(s) ``(…, 6)`` of a group's grid: same corner, pixels f times larger."""
    f = FACTOR[group]
    return np.asarray(transform, np.float64) * np.array([f, f, 1, f, f, 1], np.float64)


def check_size(size: int, bands: Sequence[str]) -> None:
    """Raise ``ValueError`` when ``size`` is not divisible by 6 (60 m bands) or 2 (20 m bands)."""
    groups = group_bands(bands)
    for g in ("60m", "20m"):
        f = FACTOR[g]
        if g in groups and size % f:
            raise ValueError(
                f"size {size} is not divisible by {f}: a store with {g} bands "
                f"({', '.join(groups[g])}) needs a patch size divisible by {f} "
                f"(e.g. {max(f, size - size % f)}) so that each {g} pixel is one sensor pixel"
            )


def divides(size: int, bands: Sequence[str]) -> bool:
    """True when ``size`` 10 m pixels make whole 20/60 m pixels for ``bands`` (see :func:`check_size`)."""
    try:
        check_size(size, bands)
    except ValueError:
        return False
    return True


def decimate(full: np.ndarray, factor: int) -> np.ndarray:
    """One pixel per ``factor × factor`` block of the last two axes (a view, no copy).

    Exact when the blocks are constant (nearest resampling onto the 10 m grid).
    """
    if factor == 1:
        return full
    return full[..., ::factor, ::factor]


def is_blocky(full: np.ndarray, factor: int) -> bool:
    """True when every ``factor × factor`` block of the last two axes holds one value."""
    if factor == 1:
        return True
    return bool(np.array_equal(upsample(decimate(full, factor), factor), full))


def upsample(native: np.ndarray, factor: int, method: str = "nearest") -> np.ndarray:
    """Bring images (…, n, n) to (…, n·factor, n·factor).

    ``nearest`` repeats each pixel as a block (exact inverse of :func:`decimate`);
    ``bilinear`` treats pixels as areas (centres at ``i + 0.5``, edges clamped, as
    ``align_corners=False``) and returns the input's dtype, rounded.
    """
    if method not in RESAMPLING:
        raise ValueError(f"resampling must be one of {', '.join(RESAMPLING)}, got {method!r}")
    if factor == 1:
        return native
    if method == "nearest":
        return np.repeat(np.repeat(native, factor, axis=-2), factor, axis=-1)
    n_y, n_x = native.shape[-2:]
    wy = _bilinear_matrix(n_y, factor)
    wx = _bilinear_matrix(n_x, factor)
    out = wy @ native.astype(np.float32) @ wx.T
    if np.issubdtype(native.dtype, np.integer):
        info = np.iinfo(native.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(native.dtype)
    return out.astype(native.dtype)


def _bilinear_matrix(n: int, factor: int) -> np.ndarray:
    """(n·factor, n) float32 weights of area-aligned linear interpolation."""
    m = n * factor
    pos = np.clip((np.arange(m) + 0.5) / factor - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    t = (pos - lo).astype(np.float32)
    w = np.zeros((m, n), np.float32)
    np.add.at(w, (np.arange(m), lo), 1 - t)
    np.add.at(w, (np.arange(m), hi), t)
    return w


@dataclass
class BandImages:
    """Images of ``bands`` at their native resolutions, sharing leading axes.

    ``arrays[group]`` is ``(*lead, bands of the group, n_g, n_g)`` with ``n_g`` =
    ``size / factor``; ``size`` is the patch side at 10 m. Indexing (``x[0]``, ``x[i] = y``)
    applies to the leading axes of every group; a value may be another :class:`BandImages`
    or a ``(*lead, bands, size, size)`` array on the 10 m grid (then decimated exactly).
    """

    bands: tuple[str, ...]
    size: int
    arrays: dict[str, np.ndarray]

    @classmethod
    def empty(
        cls, lead: tuple[int, ...], bands: Sequence[str], size: int, fill: int = 0
    ) -> BandImages:
        """Leading shape ``lead``, every pixel ``fill``, uint16."""
        bands = tuple(bands)
        check_size(size, bands)
        arrays = {
            g: np.full((*lead, len(bs), group_size(size, g), group_size(size, g)), fill, np.uint16)
            for g, bs in group_bands(bands).items()
        }
        return cls(bands, int(size), arrays)

    @classmethod
    def from_grid(cls, full: np.ndarray, bands: Sequence[str]) -> BandImages:
        """Native images from ``(*lead, bands, size, size)`` on the 10 m grid, by decimation."""
        bands = tuple(bands)
        full = np.asarray(full)
        if full.ndim < 3 or full.shape[-3] != len(bands) or full.shape[-1] != full.shape[-2]:
            raise ValueError(
                f"a 10 m grid array (..., {len(bands)} bands, size, size) is needed, "
                f"got shape {full.shape}"
            )
        size = int(full.shape[-1])
        check_size(size, bands)
        arrays = {
            g: np.ascontiguousarray(
                decimate(full[..., [bands.index(b) for b in bs], :, :], FACTOR[g])
            )
            for g, bs in group_bands(bands).items()
        }
        return cls(bands, size, arrays)

    @classmethod
    def from_bands(cls, images: dict[str, np.ndarray], size: int) -> BandImages:
        """From one ``(*lead, n_g, n_g)`` array per band name (dict order = band order)."""
        bands = tuple(images)
        check_size(size, bands)
        arrays = {
            g: np.stack([np.asarray(images[b]) for b in bs], axis=-3)
            for g, bs in group_bands(bands).items()
        }
        out = cls(bands, int(size), arrays)
        out.check()
        return out

    def check(self) -> None:
        """Raise ``ValueError`` when a group's array does not have its native shape."""
        lead: tuple[int, ...] | None = None
        for g, bs in group_bands(self.bands).items():
            a = self.arrays.get(g)
            n = group_size(self.size, g)
            if a is None or a.ndim < 3 or a.shape[-3:] != (len(bs), n, n):
                got = None if a is None else a.shape
                raise ValueError(
                    f"{g} bands {list(bs)}: shape {got}, expected (..., {len(bs)}, {n}, {n})"
                )
            if lead is None:
                lead = a.shape[:-3]
            elif a.shape[:-3] != lead:
                raise ValueError(f"{g} leading shape {a.shape[:-3]} differs from {lead}")
        extra = set(self.arrays) - set(group_bands(self.bands))
        if extra:
            raise ValueError(f"arrays for groups without bands: {sorted(extra)}")

    @property
    def shape(self) -> tuple[int, ...]:
        """The common leading shape."""
        first = next(iter(self.arrays.values()))
        return tuple(first.shape[:-3])

    @property
    def dtype(self) -> np.dtype[Any]:
        return next(iter(self.arrays.values())).dtype

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    @property
    def writeable(self) -> bool:
        return all(a.flags.writeable for a in self.arrays.values())

    def copy(self) -> BandImages:
        return BandImages(self.bands, self.size, {g: a.copy() for g, a in self.arrays.items()})

    def band(self, name: str) -> np.ndarray:
        """``(*lead, n_g, n_g)`` images of one band at its native resolution."""
        g = band_group(name)
        return self.arrays[g][..., group_bands(self.bands)[g].index(name), :, :]

    def __getitem__(self, idx: Any) -> BandImages:
        return BandImages(self.bands, self.size, {g: a[idx] for g, a in self.arrays.items()})

    def __setitem__(self, idx: Any, value: BandImages | np.ndarray) -> None:
        if not isinstance(value, BandImages):
            value = BandImages.from_grid(np.asarray(value), self.bands)
        if value.bands != self.bands and set(value.bands) >= set(self.bands):
            value = value.select(self.bands)
        if value.bands != self.bands or value.size != self.size:
            raise ValueError(
                f"bands {list(value.bands)} at size {value.size} do not fit "
                f"{list(self.bands)} at size {self.size}"
            )
        for g, a in self.arrays.items():
            a[idx] = value.arrays[g]

    def select(self, bands: Sequence[str]) -> BandImages:
        """Only ``bands`` (a subset, in the given order)."""
        bands = tuple(bands)
        arrays = {
            g: np.stack([self.band(b) for b in bs], axis=-3) for g, bs in group_bands(bands).items()
        }
        return BandImages(bands, self.size, arrays)

    def to_grid(self, method: str = "nearest") -> np.ndarray:
        """``(*lead, bands, size, size)`` on the 10 m grid, band order ``bands``."""
        if method not in RESAMPLING:
            raise ValueError(f"resampling must be one of {', '.join(RESAMPLING)}, got {method!r}")
        out = np.empty((*self.shape, len(self.bands), self.size, self.size), self.dtype)
        for g, bs in group_bands(self.bands).items():
            up = upsample(self.arrays[g], FACTOR[g], method)
            for j, b in enumerate(bs):
                out[..., self.bands.index(b), :, :] = up[..., j, :, :]
        return out
