"""What every downstream reader shares: the two dataset protocols, errors, band selection.

Readers return raw digital numbers (uint16, reflectance × 10⁴ for L1C) with channels in the
canonical L1C order of :mod:`shared.layout.bands` (B1, B2, …, B8, B8A, B9, B10, B11, B12), or in
the order of the ``bands`` subset asked for; scaling to model inputs is the caller's job.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from shared.errors import OutsideFileError
from shared.layout.bands import RGB, band_names

__all__ = [
    "L1C_ORDER",
    "SPLIT_NAMES",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "ImageDataset",
    "PairDataset",
    "select_bands",
    "check_split_name",
    "default_splits_path",
    "split_cache_dir",
    "as_uint16",
]

#: Canonical channel order of every reader (Sentinel-2 L1C, 13 bands).
L1C_ORDER: tuple[str, ...] = band_names("L1C")
#: The splits every reader answers ``indices()`` for.
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")


class DatasetError(Exception):
    """Base class of the downstream readers' errors."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset root, folder or file is not where the layout says it should be."""


class DatasetFormatError(DatasetError, OutsideFileError):
    """Files are present but disagree with the layout (sizes, band counts, split lists, label
    files of the wrong shape); an :class:`~shared.errors.OutsideFileError`."""


@runtime_checkable
class ImageDataset(Protocol):
    """Scene classification: one image and one class per item."""

    bands: tuple[str, ...]  # channel order of the images returned
    classes: tuple[str, ...]  # label ``k`` names ``classes[k]``

    def __len__(self) -> int: ...

    def image(self, i: int) -> np.ndarray:
        """Item ``i`` as ``(C, H, W)`` uint16 DNs, ``C == len(bands)``."""
        ...

    def label(self, i: int) -> int:
        """Class index of item ``i``, in ``range(len(classes))``."""
        ...

    def indices(self, split: str) -> np.ndarray:
        """Sorted int64 item indices of ``"train"``, ``"val"`` or ``"test"``."""
        ...


@runtime_checkable
class PairDataset(Protocol):
    """Bi-temporal change detection: two co-registered images and a change mask per item."""

    bands: tuple[str, ...]

    def __len__(self) -> int: ...

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(before (C, H, W) uint16, after (C, H, W) uint16, change (H, W) bool)``."""
        ...

    def name(self, i: int) -> str:
        """A stable name of item ``i`` (for OSCD, the city)."""
        ...

    def indices(self, split: str) -> np.ndarray:
        """Sorted int64 item indices of ``"train"``, ``"val"`` or ``"test"``."""
        ...


def _canonical_name(name: str) -> str:
    """``"b02"`` → ``"B2"``, ``"B8a"`` → ``"B8A"``: the datasets' zero-padded names are accepted."""
    key = name.strip().upper()
    return re.sub(r"^B0(\d)$", r"B\1", key)


def select_bands(bands: str | Sequence[str] | None) -> tuple[str, ...]:
    """Channel order to read: ``None`` or ``"all"`` (all 13, canonical order), ``"rgb"``
    (B4, B3, B2), ``"B4,B3,B2"`` or a sequence of names; the given order is kept.

    Raises ``ValueError`` naming unknown or repeated bands and listing the valid names.
    """
    if bands is None:
        return L1C_ORDER
    if isinstance(bands, str):
        key = bands.strip().lower()
        if key == "all":
            return L1C_ORDER
        if key == "rgb":
            return RGB
        raw = [s for s in bands.split(",") if s.strip()]
    else:
        raw = list(bands)
    names = [_canonical_name(s) for s in raw]
    if not names:
        raise ValueError(
            f"empty band list {bands!r}: give None, 'all', 'rgb' or names like B4,B3,B2"
        )
    unknown = [r for r, n in zip(raw, names, strict=True) if n not in L1C_ORDER]
    if unknown:
        raise ValueError(
            f"unknown band(s) {', '.join(map(repr, unknown))}: valid names are "
            f"{', '.join(L1C_ORDER)} (zero-padded forms such as B02 are accepted too)"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"band list repeats a band: {', '.join(names)}")
    return tuple(names)


def check_split_name(split: str) -> str:
    """Return ``split`` if it is one of :data:`SPLIT_NAMES`, else raise ``ValueError``."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLIT_NAMES)}")
    return split


def split_cache_dir() -> Path:
    """Where split files go when the data folder is read-only:
    ``$SECO_CACHE_DIR/splits`` if set, else ``${XDG_CACHE_HOME:-~/.cache}/seco/splits``."""
    if os.environ.get("SECO_CACHE_DIR"):
        return Path(os.environ["SECO_CACHE_DIR"]) / "splits"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seco" / "splits"


def _writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried for real: permissions alone lie to root
    and to read-only mounts)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".seco-probe-"):
            return True
    except OSError:
        return False


def default_splits_path(data_dir: Path, filename: str) -> Path:
    """``data_dir / filename`` if that file exists or the folder is writable; otherwise a file in
    :func:`split_cache_dir` named after ``filename`` and a hash of the folder's absolute path."""
    beside = data_dir / filename
    if beside.is_file() or _writable(data_dir):
        return beside
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return split_cache_dir() / f"{Path(filename).stem}-{digest}.json"


def as_uint16(array: np.ndarray, where: str) -> np.ndarray:
    """``array`` as uint16 DNs; integer (or integral float) data in 0…65535 is converted, anything
    else raises :class:`DatasetFormatError` naming ``where``."""
    if array.dtype == np.uint16:
        return array
    if array.size and (
        not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating))
        or array.min() < 0
        or array.max() > np.iinfo(np.uint16).max
        or (np.issubdtype(array.dtype, np.floating) and not np.all(np.mod(array, 1) == 0))
    ):
        raise DatasetFormatError(
            f"{where}: expected uint16 digital numbers, found {array.dtype} values in "
            f"[{array.min()}, {array.max()}]"
        )
    return array.astype(np.uint16)
