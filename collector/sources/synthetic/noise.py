"""Smooth random fields tied to the ground: multi-octave value noise on UTM coordinates.

A field is a weighted sum of octaves; each octave holds one hashed random value per node of a
square lattice in the UTM zone's metres and interpolates between nodes with smoothstep weights.
Because the lattice lives in ground coordinates, two patches that overlap see the same field
on their common pixels. Interpolation is separable, so one octave on a grid costs two small
matrix products: ``W_y @ V @ W_xᵀ``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from collector.sources.synthetic.hashing import hash_uniform

__all__ = [
    "GridAxes",
    "patch_axes",
    "value_noise",
    "value_noise_stack",
    "CoarseGrid",
    "coarse_grid",
    "Octave",
]

#: One octave: ``(lattice spacing in metres, weight)``.
Octave = tuple[float, float]


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _interp_variance_factor() -> float:
    """Variance of a 2-D smoothstep-interpolated lattice of unit-variance values (≈ 0.59)."""
    t = (np.arange(4096) + 0.5) / 4096
    s = _smoothstep(t)
    return float(np.mean((1 - s) ** 2 + s**2) ** 2)


_VAR_FACTOR = _interp_variance_factor()


@dataclass(frozen=True)
class GridAxes:
    """Ground coordinates (m) of sample centres: ``xs`` (nx,) eastings, ``ys`` (ny,) northings."""

    xs: np.ndarray
    ys: np.ndarray


def patch_axes(transform: Sequence[float], size: int, step: int = 1) -> GridAxes:
    """Centres of ``step × step`` pixel blocks of a north-up grid (``ceil(size/step)`` per axis)."""
    a, _, c, _, e, f = (float(v) for v in transform)
    n = -(-int(size) // int(step))
    k = np.arange(n, dtype=np.float64) * step + step / 2.0
    return GridAxes(c + a * k, f + e * k)


def _stacked_weights(
    coords: np.ndarray, spacings: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interpolation weights from the nodes of all octaves at once.

    Returns ``W`` (n, M) float32 (each row: two non-zeros per octave), and per node its
    lattice index (M,) int64 and octave (M,) int64, octaves' nodes side by side.
    """
    u = coords[None, :] / spacings[:, None]  # (O, n)
    i0 = np.floor(u).astype(np.int64)
    s = _smoothstep(u - i0).astype(np.float32)
    first = i0.min(axis=1)
    m = i0.max(axis=1) - first + 2
    offset = np.concatenate([[0], np.cumsum(m)[:-1]])
    col = offset[:, None] + i0 - first[:, None]
    rows = np.broadcast_to(np.arange(coords.size), col.shape)
    w = np.zeros((coords.size, int(m.sum())), dtype=np.float32)
    w[rows, col] = 1.0 - s
    w[rows, col + 1] = s
    octave = np.repeat(np.arange(spacings.size), m)
    node = np.arange(int(m.sum())) - np.repeat(offset - first, m)
    return w, node, octave


def value_noise_stack(
    key: int, axes: GridAxes, spacings: Sequence[float], weights: np.ndarray
) -> np.ndarray:
    """Several independent fields sharing one set of lattices: (F, ny, nx) float32.

    ``spacings`` (O,) are lattice spacings in metres and ``weights`` (F, O) the weight of each
    octave in each field (0 leaves an octave out). Each field is normalised to unit variance.
    The node values of a field form a block-diagonal matrix (one block per octave), so all
    fields go through one batched pair of matrix products.
    """
    sp = np.asarray(spacings, dtype=np.float64)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    if sp.size == 0 or np.any(sp <= 0):
        raise ValueError(f"lattice spacings must be positive, got {list(spacings)}")
    if w.shape[1] != sp.size or np.any(np.sum(w**2, axis=1) <= 0):
        raise ValueError(
            f"weights must be (fields, {sp.size}) with a non-zero row each, got {w.shape}"
        )
    wy, ny, oy = _stacked_weights(np.asarray(axes.ys, np.float64), sp)
    wx, nx, ox = _stacked_weights(np.asarray(axes.xs, np.float64), sp)
    fields = np.arange(w.shape[0])[:, None, None]
    h = hash_uniform(key, fields, oy[None, :, None], ny[None, :, None], nx[None, None, :]) - 0.5
    norm = 1.0 / np.sqrt(np.sum(w**2, axis=1) * _VAR_FACTOR / 12.0)  # (F,)
    scale = w[:, oy] * norm[:, None]  # (F, My)
    v = np.where(oy[None, :, None] == ox[None, None, :], h * scale[:, :, None], 0.0)
    return wy @ v.astype(np.float32) @ wx.T


def value_noise(key: int, axes: GridAxes, octaves: Sequence[Octave]) -> np.ndarray:
    """A smooth field on ``axes``, shape (ny, nx) float32, close to zero mean and unit variance.

    The marginal distribution is near-normal (a sum of interpolated uniforms), so a threshold
    ``z`` leaves roughly ``Φ(z)`` of the ground below it.
    """
    if not octaves:
        raise ValueError("value_noise needs at least one octave")
    spacings = [o[0] for o in octaves]
    weights = np.array([[o[1] for o in octaves]])
    return value_noise_stack(key, axes, spacings, weights)[0]


def _bilinear(u: np.ndarray, n: int) -> np.ndarray:
    i0 = np.minimum(np.floor(u).astype(np.int64), n - 2)
    t = (u - i0).astype(np.float32)
    m = np.zeros((u.size, n), dtype=np.float32)
    rows = np.arange(u.size)
    m[rows, i0] = 1.0 - t
    m[rows, i0 + 1] = t
    return m


@dataclass(frozen=True)
class CoarseGrid:
    """A coarse sampling of a patch on a ground lattice, and the way back to its pixels.

    The coarse nodes lie on multiples of ``step`` pixels in the zone's metres (not relative to
    the patch), so two patches on the same 10 m lattice share their nodes and get identical
    values on common pixels. ``axes`` are the nodes' coordinates; ``to_pixels_y`` (N, ny) and
    ``to_pixels_x`` (N, nx) float32 interpolate bilinearly: ``full = Y @ coarse @ Xᵀ``.
    """

    axes: GridAxes
    to_pixels_y: np.ndarray
    to_pixels_x: np.ndarray

    def upsample(self, coarse: np.ndarray) -> np.ndarray:
        """(…, ny, nx) → (…, N, N) float32."""
        return self.to_pixels_y @ coarse @ self.to_pixels_x.T


def coarse_grid(transform: Sequence[float], size: int, step: int) -> CoarseGrid:
    """The :class:`CoarseGrid` of a north-up grid with nodes every ``step`` pixels."""
    a, _, c, _, e, f = (float(v) for v in transform)
    if a <= 0 or e >= 0 or step < 1:
        raise ValueError(f"need a north-up grid and step ≥ 1, got {tuple(transform)}, {step}")
    spacing_x, spacing_y = a * step, -e * step
    centres = np.arange(size, dtype=np.float64) + 0.5
    x0 = spacing_x * np.floor((c + a / 2) / spacing_x)
    y0 = spacing_y * np.ceil((f + e / 2) / spacing_y)
    # offsets from the first node are whole metres here, so the same ground pixel gets the
    # same weights whichever patch it belongs to
    ux = ((c - x0) + a * centres) / spacing_x
    uy = ((y0 - f) - e * centres) / spacing_y
    nx, ny = int(np.floor(ux[-1])) + 2, int(np.floor(uy[-1])) + 2
    axes = GridAxes(x0 + spacing_x * np.arange(nx), y0 - spacing_y * np.arange(ny))
    return CoarseGrid(axes, _bilinear(uy, ny), _bilinear(ux, nx))
