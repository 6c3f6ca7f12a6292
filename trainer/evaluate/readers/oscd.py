"""OSCD: the Onera Satellite Change Detection dataset, 24 city pairs of Sentinel-2 L1C images.

Daudt et al., "Urban Change Detection for Multispectral Earth Observation Using Convolutional
Neural Networks", IGARSS 2018. Each city has two co-registered dates of 13 single-band
GeoTIFFs (every band resampled to 10 m, a few hundred pixels a side, sizes differ per city) and
a pixel-wise urban-change mask. Layout, as the authors distribute it::

    root/Onera Satellite Change Detection dataset - Images/<city>/imgs_1_rect/B01.tif … B12.tif, B8A.tif
    root/Onera Satellite Change Detection dataset - Images/<city>/imgs_2_rect/…
    root/Onera Satellite Change Detection dataset - Images/<city>/dates.txt    (optional here)
    root/Onera Satellite Change Detection dataset - Images/train.txt, test.txt (comma-separated cities)
    root/Onera Satellite Change Detection dataset - Train Labels/<city>/cm/cm.png
    root/Onera Satellite Change Detection dataset - Test Labels/<city>/cm/cm.png

Masks are read as greyscale (RGB or palette PNGs are converted); any value > 0 is change.

Splits: ``"test"`` is test.txt (14 train and 10 test cities in the release). Where train.txt
and test.txt are absent (some copies drop them), the cities with a ``cm/cm.png`` under the Train
Labels folder are the train cities and those under the Test Labels folder the test cities. ``"val"`` is
``val_cities`` train cities chosen with seed 0 and ``"train"`` the remaining train cities; that
choice is made once and stored as JSON at ``splits_file`` (default
``seco-split-oscd-val<k>.json`` in the Images folder, or in
:func:`~trainer.evaluate.readers.base.split_cache_dir` if that folder is read-only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.outside import open_image_checked, read_raster, read_text, safe_text
from trainer.evaluate.readers.base import (
    DatasetFormatError,
    DatasetNotFoundError,
    as_uint16,
    check_split_name,
    default_splits_path,
    select_bands,
)
from trainer.evaluate.splits import seeded_subset, stored_split

__all__ = ["OSCD_FOLDERS", "DATE_FOLDERS", "City", "OSCD", "band_file"]

#: Top-level folders of the release: images, train labels, test labels.
OSCD_FOLDERS = {
    "images": "Onera Satellite Change Detection dataset - Images",
    "train": "Onera Satellite Change Detection dataset - Train Labels",
    "test": "Onera Satellite Change Detection dataset - Test Labels",
}
#: Folders of the two dates inside a city.
DATE_FOLDERS = ("imgs_1_rect", "imgs_2_rect")
SPLIT_SEED = 0
#: validation cities taken from the train cities when none is asked for (fewer if there are
#: not 4 train cities)
DEFAULT_VAL_CITIES = 3
#: pixels a band or mask of one city may declare (the release's largest is under 1000²)
CITY_PIXELS = 10_000 * 10_000


def band_file(band: str) -> str:
    """File name of a canonical band in OSCD: ``"B2"`` → ``"B02.tif"``, ``"B8A"`` → ``"B8A.tif"``."""
    return re.sub(r"^B(\d)$", r"B0\1", band) + ".tif"


@dataclass(frozen=True)
class City:
    """One OSCD city: its official split, the two date folders, the mask and the dates."""

    name: str
    official_split: str  # "train" or "test", from train.txt / test.txt
    before: Path  # .../<city>/imgs_1_rect
    after: Path  # .../<city>/imgs_2_rect
    mask: Path  # .../<city>/cm/cm.png in the Train or Test Labels folder
    dates: tuple[str, str] | None  # ("20161017", "20180328") from dates.txt, if present


def _city_list(path: Path) -> list[str]:
    if not path.is_file():
        raise DatasetNotFoundError(
            f"OSCD split list {path} is missing: expected comma-separated city names in it"
        )
    text = read_text(path, max_bytes=1 << 20, what="OSCD city list")
    return [c.strip() for c in text.replace("\n", ",").split(",") if c.strip()]


def _read_dates(path: Path) -> tuple[str, str] | None:
    if not path.is_file():
        return None
    text = read_text(path, max_bytes=1 << 16, what="dates.txt")
    values = [line.split(":", 1)[1].strip() for line in text.splitlines() if ":" in line]
    return (values[0], values[1]) if len(values) >= 2 else None


class OSCD:
    """OSCD change detection (implements ``PairDataset``); one item per city, cities sorted.

    ``pair(i)`` gives ``(before, after, change)``: ``(C, H, W)`` uint16 twice and ``(H, W)``
    bool, ``C == len(bands)``; ``H, W`` differ between cities.
    """

    def __init__(
        self,
        root: str | Path,
        bands: str | Sequence[str] | None = None,
        splits_file: str | Path | None = None,
        val_cities: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.bands = select_bands(bands)
        images = self.root / OSCD_FOLDERS["images"]
        if not images.is_dir():
            raise DatasetNotFoundError(
                f"no OSCD release under {self.root}: expected the folders "
                f"{', '.join(repr(f) for f in OSCD_FOLDERS.values())} in it"
            )
        self.images_dir = images
        if (images / "train.txt").is_file() or (images / "test.txt").is_file():
            official = {
                "train": _city_list(images / "train.txt"),
                "test": _city_list(images / "test.txt"),
            }
        else:
            official = {s: self._labelled_cities(s) for s in ("train", "test")}
        both = set(official["train"]) & set(official["test"])
        if both:
            raise DatasetFormatError(
                f"{images}: cities in both train.txt and test.txt: {sorted(both)}"
            )
        n_train = len(official["train"])
        if n_train < 1:
            raise DatasetFormatError(
                f"{images}: no train city (train.txt or the Train Labels folder)"
            )
        if val_cities is None:  # the default: 3, fewer when there are not enough train cities
            val_cities = min(DEFAULT_VAL_CITIES, n_train - 1)
        elif not 0 <= val_cities < n_train:
            raise ValueError(
                f"val_cities={val_cities} (--val-cities): need 0 ≤ val cities < {n_train} "
                f"(the number of train cities)"
            )
        split_of = {c: s for s, cities in official.items() for c in cities}
        self.cities: tuple[City, ...] = tuple(self._city(c, split_of[c]) for c in sorted(split_of))
        self._index = {c.name: i for i, c in enumerate(self.cities)}
        self.splits_path = (
            Path(splits_file)
            if splits_file is not None
            else default_splits_path(images, f"seco-split-oscd-val{val_cities}.json")
        )
        self._splits = self._load_splits(official, val_cities)

    def _labelled_cities(self, split: str) -> list[str]:
        """Cities with a change mask in the Train (or Test) Labels folder, sorted."""
        folder = self.root / OSCD_FOLDERS[split]
        if not folder.is_dir():
            raise DatasetNotFoundError(
                f"OSCD: neither train.txt/test.txt in {self.root / OSCD_FOLDERS['images']} nor "
                f"the folder {folder} to take the {split} cities from"
            )
        return sorted(d.name for d in folder.iterdir() if (d / "cm" / "cm.png").is_file())

    def _load_splits(
        self, official: dict[str, list[str]], val_cities: int
    ) -> dict[str, np.ndarray]:
        """Stored train/val/test city lists, made from train.txt/test.txt on first use."""

        def make() -> dict[str, list[str]]:
            val = seeded_subset(official["train"], val_cities, seed=SPLIT_SEED)
            train = sorted(set(official["train"]) - set(val))
            return {"train": train, "val": val, "test": sorted(official["test"])}

        lists = stored_split(self.splits_path, make)
        got = {s: set(lists.get(s, [])) for s in ("train", "val", "test")}
        if got["train"] | got["val"] != set(official["train"]) or got["test"] != set(
            official["test"]
        ):
            raise DatasetFormatError(
                f"stored split {self.splits_path} does not match train.txt/test.txt of "
                f"{self.images_dir}: its train+val must be the train cities and its test the test "
                f"cities; delete it to make a new split, or pass another splits_file"
            )
        return {
            s: np.array(sorted(self._index[c] for c in v), dtype=np.int64) for s, v in got.items()
        }

    def _city(self, name: str, official_split: str) -> City:
        folder = self.images_dir / name
        if not folder.is_dir():
            raise DatasetNotFoundError(f"OSCD city {name!r}: folder {folder} is missing")
        dates = [folder / d for d in DATE_FOLDERS]
        for d in dates:
            for band in self.bands:
                if not (d / band_file(band)).is_file():
                    raise DatasetNotFoundError(
                        f"OSCD city {name!r}: band {band} file {d / band_file(band)} is missing"
                    )
        labels = [
            self.root / OSCD_FOLDERS[official_split],
            self.root / OSCD_FOLDERS["train"],
            self.root / OSCD_FOLDERS["test"],
        ]
        masks = [lab / name / "cm" / "cm.png" for lab in labels]
        mask = next((m for m in masks if m.is_file()), None)
        if mask is None:
            raise DatasetNotFoundError(f"OSCD city {name!r}: change mask {masks[0]} is missing")
        return City(
            name, official_split, dates[0], dates[1], mask, _read_dates(folder / "dates.txt")
        )

    def __len__(self) -> int:
        return len(self.cities)

    def __repr__(self) -> str:
        return f"OSCD({str(self.root)!r}, {len(self)} cities)"

    def name(self, i: int) -> str:
        return self.cities[i].name

    def indices(self, split: str) -> np.ndarray:
        """Sorted int64 indices of ``"train"``, ``"val"`` or ``"test"`` (see the module docstring)."""
        return self._splits[check_split_name(split)].copy()

    def read_date(self, i: int, date: int) -> np.ndarray:
        """City ``i`` at ``date`` 0 (before) or 1 (after): ``(C, H, W)`` uint16 in ``bands`` order."""
        city = self.cities[i]
        folder = (city.before, city.after)[date]
        planes: list[np.ndarray] = []
        for band in self.bands:
            path = folder / band_file(band)
            if not path.is_file():
                raise DatasetNotFoundError(
                    f"OSCD city {city.name!r}: band {band} file {path} is missing"
                )
            plane = read_raster(path, max_pixels=CITY_PIXELS)
            if planes and plane.shape != planes[0].shape:
                raise DatasetFormatError(
                    f"OSCD city {city.name!r}, {folder.name}: band {band} is {plane.shape} px but "
                    f"band {self.bands[0]} is {planes[0].shape} px"
                )
            planes.append(as_uint16(plane, str(path)))
        return np.stack(planes)

    def mask(self, i: int) -> np.ndarray:
        """Change mask of city ``i``: ``(H, W)`` bool, True where the label PNG is > 0."""
        with open_image_checked(self.cities[i].mask, max_pixels=CITY_PIXELS) as img:
            try:
                return np.asarray(img.convert("L")) > 0
            except (OSError, ValueError, SyntaxError) as e:
                raise DatasetFormatError(
                    str(self.cities[i].mask), f"unreadable change mask ({safe_text(e, 100)})"
                ) from e

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(before (C, H, W) uint16, after (C, H, W) uint16, change (H, W) bool)``."""
        before, after, change = self.read_date(i, 0), self.read_date(i, 1), self.mask(i)
        if before.shape != after.shape or before.shape[1:] != change.shape:
            raise DatasetFormatError(
                f"OSCD city {self.name(i)!r}: before {before.shape[1:]}, after {after.shape[1:]} "
                f"and mask {change.shape} differ in size"
            )
        return before, after, change
