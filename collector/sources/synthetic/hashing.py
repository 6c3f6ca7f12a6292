"""Counter-based random numbers: the same key and coordinates give the same value in any process.

The synthetic world must be reproducible byte for byte across processes and machines, and its
ground-tied fields must not depend on which patch asks for them. Both needs are met by hashing
integer coordinates (lattice indices, days, tiles) with a 64-bit mixer (SplitMix64's finaliser)
instead of drawing from a stateful generator. Python's ``hash()`` is never used: it is salted
per process.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mix_words", "hash_uniform", "Tag"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


class Tag:
    """Stream labels: each kind of random draw gets its own key space."""

    GROUND = 1
    TEXTURE = 6
    PARCEL = 7
    CLIMATE = 8
    SCENE = 9
    CLOUD_FIELD = 10
    WEATHER = 11
    CHANGE = 12
    TILE = 13


def _mix(z: int) -> int:
    z = (z + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def mix_words(*words: int) -> int:
    """Fold integers (any sign, any size) into one 64-bit key; order matters."""
    z = 0
    for w in words:
        z = _mix(z ^ (int(w) & _MASK))
    return z


def _mix_array(z: np.ndarray) -> np.ndarray:
    # callers pass arrays of at least one dimension: uint64 arrays wrap around silently
    z = z + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


# odd multipliers that spread each coordinate over all 64 bits before mixing
_SPREAD = (0xD6E8FEB86659FD93, 0xA0761D6478BD642F, 0xE7037ED1A0B428DB, 0x8EBC6AF09C88C6E3)


def hash_uniform(key: int, *coords: np.ndarray | int) -> np.ndarray:
    """Uniform values in [0, 1) (float64), one per broadcast element of ``coords``.

    ``coords`` (at most 4) are integer arrays (e.g. lattice rows and columns shaped to
    broadcast); the result depends only on ``key`` and the coordinate values. Scalars give
    shape (1,).
    """
    if len(coords) > len(_SPREAD):
        raise ValueError(
            f"hash_uniform takes at most {len(_SPREAD)} coordinates, got {len(coords)}"
        )
    z = np.full((1,), key, dtype=np.uint64)
    for c, spread in zip(coords, _SPREAD, strict=False):
        z = z + np.atleast_1d(np.asarray(c, dtype=np.int64)).view(np.uint64) * np.uint64(spread)
    z = _mix_array(z)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
