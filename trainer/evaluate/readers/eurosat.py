"""EuroSAT (multispectral): 27,000 Sentinel-2 L1C patches of 64 × 64 px in 10 land-cover classes.

Helber et al., "EuroSAT: A Novel Dataset and Deep Learning Benchmark for Land Use and Land
Cover Classification", IEEE JSTARS 2019. Each ``<Class>/<Class>_<n>.tif`` holds 13 uint16 bands
at 10 m. **Band order inside the files is B01…B12 then B8A** (B8A is the 13th band, not the
9th), as the authors confirmed in phelber/EuroSAT#7 and torchgeo fixed in its PR #2480; this
reader reorders to the canonical L1C order on read.

Accepted roots (the first that holds class folders wins):

1. ``root`` itself holds the class folders (a folder counts as a class if it holds ``*.tif``);
2. ``root/ds/images/remote_sensing/otherDatasets/sentinel_2/tif`` (the official archive);
3. a sub-folder of ``root``, or that archive path inside a sub-folder (e.g. ``EuroSAT_MS/``).

Splits, in order of precedence:

* ``eurosat-train.txt``, ``eurosat-val.txt``, ``eurosat-test.txt`` in ``root`` or in the
  class-folder parent (the public split lists: one file name per line, matched by stem, so
  ``Forest_12.jpg`` names ``Forest_12.tif``). Files listed in none of them are in no split;
  names that match no file are an error.
* otherwise a stratified 60/20/20 split (seed 0, see :func:`~trainer.evaluate.splits.stratified_split`)
  made once and stored as JSON at ``splits_file``; by default ``seco-split-eurosat.json`` in the
  class-folder parent, or, if that folder is read-only, in
  :func:`~trainer.evaluate.readers.base.split_cache_dir`. A stored split must name exactly the
  files present; if the data changed, delete the file (or point ``splits_file`` elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.outside import read_raster, read_text
from trainer.evaluate.readers.base import (
    DatasetFormatError,
    DatasetNotFoundError,
    as_uint16,
    check_split_name,
    default_splits_path,
    select_bands,
)
from trainer.evaluate.splits import stored_split, stratified_split

__all__ = [
    "EUROSAT_FILE_ORDER",
    "ARCHIVE_SUBDIR",
    "SPLIT_LISTS",
    "SPLIT_JSON",
    "EuroSATItem",
    "EuroSAT",
]

#: Pixels one EuroSAT image may declare (the release's are 64 × 64).
IMAGE_PIXELS = 1024 * 1024
#: Band order inside the EuroSAT GeoTIFFs (B8A last).
EUROSAT_FILE_ORDER: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "B8A",
)  # fmt: skip
#: Where the official archive keeps the class folders.
ARCHIVE_SUBDIR = Path("ds/images/remote_sensing/otherDatasets/sentinel_2/tif")
#: Public split lists, looked for in the root and in the class-folder parent.
SPLIT_LISTS = {"train": "eurosat-train.txt", "val": "eurosat-val.txt", "test": "eurosat-test.txt"}
#: Name of the stored stratified split.
SPLIT_JSON = "seco-split-eurosat.json"
SPLIT_SEED = 0


@dataclass(frozen=True)
class EuroSATItem:
    """One patch: its file, its key (file stem, e.g. ``"Forest_12"``) and class index."""

    path: Path
    key: str
    label: int


def _natural(text: str) -> list[int | str]:
    """Sort key that puts ``Forest_2`` before ``Forest_10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _class_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [d for d in sorted(folder.iterdir()) if d.is_dir() and any(d.glob("*.tif"))]


def find_image_dir(root: Path) -> Path:
    """The folder holding the class folders, searched as the module docstring says."""
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"EuroSAT root {root} does not exist: expected a folder holding the class folders "
            f"(AnnualCrop/, Forest/, …) of 13-band .tif files, or the extracted official archive"
        )
    candidates = [root, root / ARCHIVE_SUBDIR]
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        candidates += [child, child / ARCHIVE_SUBDIR]
    for folder in candidates:
        if _class_dirs(folder):
            return folder
    raise DatasetNotFoundError(
        f"no EuroSAT class folders under {root}: expected folders of .tif files (AnnualCrop/, "
        f"Forest/, …) in it, in {ARCHIVE_SUBDIR} below it, or one sub-folder down"
    )


class EuroSAT:
    """EuroSAT multispectral scene classification (implements ``ImageDataset``).

    Items are ordered by class (classes sorted by folder name), then by file number.
    ``image(i)`` is ``(len(bands), 64, 64)`` uint16; ``label(i)`` indexes ``classes``.
    """

    def __init__(
        self,
        root: str | Path,
        bands: str | Sequence[str] | None = None,
        splits_file: str | Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.bands = select_bands(bands)
        self.data_dir = find_image_dir(self.root)
        class_dirs = _class_dirs(self.data_dir)
        self.classes: tuple[str, ...] = tuple(d.name for d in class_dirs)

        items: list[EuroSATItem] = []
        for label, d in enumerate(class_dirs):
            for path in sorted(d.glob("*.tif"), key=lambda p: _natural(p.stem)):
                items.append(EuroSATItem(path, path.stem, label))
        self.items: tuple[EuroSATItem, ...] = tuple(items)
        self._index = {it.key: i for i, it in enumerate(self.items)}
        if len(self._index) != len(self.items):
            raise DatasetFormatError(f"{self.data_dir}: two class folders hold files of one name")
        # rasterio band indexes (1-based) that yield self.bands in order
        self._read = [EUROSAT_FILE_ORDER.index(b) + 1 for b in self.bands]
        self.splits_path: Path | None = None  # the JSON used, None when split lists were found
        self._splits = self._load_splits(splits_file)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"EuroSAT({str(self.data_dir)!r}, {len(self)} images, {len(self.classes)} classes)"

    @property
    def targets(self) -> np.ndarray:
        """All labels, ``(N,)`` int64 (no image is read)."""
        return np.fromiter((it.label for it in self.items), dtype=np.int64, count=len(self))

    def image(self, i: int) -> np.ndarray:
        """Item ``i`` as ``(C, H, W)`` uint16 DNs in the order of ``bands``."""
        item = self.items[i]
        data = read_raster(
            item.path, self._read, bands=len(EUROSAT_FILE_ORDER), max_pixels=IMAGE_PIXELS
        )
        return as_uint16(data, str(item.path))

    def label(self, i: int) -> int:
        return self.items[i].label

    def key(self, i: int) -> str:
        """File stem of item ``i`` (what split files name)."""
        return self.items[i].key

    def indices(self, split: str) -> np.ndarray:
        """Sorted int64 indices of ``"train"``, ``"val"`` or ``"test"``."""
        return self._splits[check_split_name(split)].copy()

    # -- splits -----------------------------------------------------------------------------

    def _split_lists(self) -> dict[str, list[str]] | None:
        """Stems named by the public split lists, or None when there are none."""
        for folder in dict.fromkeys([self.root, self.data_dir]):
            found = {s: folder / f for s, f in SPLIT_LISTS.items() if (folder / f).is_file()}
            if not found:
                continue
            if len(found) < len(SPLIT_LISTS):
                missing = [f for s, f in SPLIT_LISTS.items() if s not in found]
                raise DatasetNotFoundError(
                    f"{folder} has {', '.join(p.name for p in found.values())} but not "
                    f"{', '.join(missing)}: give all three split lists or none"
                )
            return {
                s: [
                    Path(line.strip()).stem
                    for line in read_text(p, what="split list").splitlines()
                    if line.strip()
                ]
                for s, p in found.items()
            }
        return None

    def _load_splits(self, splits_file: str | Path | None) -> dict[str, np.ndarray]:
        lists = self._split_lists()
        if lists is None:
            path = (
                Path(splits_file)
                if splits_file is not None
                else default_splits_path(self.data_dir, SPLIT_JSON)
            )
            keys = [it.key for it in self.items]
            labels = [it.label for it in self.items]
            lists = stored_split(path, lambda: stratified_split(keys, labels, seed=SPLIT_SEED))
            self.splits_path = path
            unlisted = set(self._index) - {k for v in lists.values() for k in v}
            if unlisted:
                raise DatasetFormatError(
                    f"stored split {path} leaves out {len(unlisted)} file(s) of {self.data_dir} "
                    f"(e.g. {sorted(unlisted)[0]}): the data changed since it was made; delete it "
                    f"to make a new split, or pass another splits_file"
                )
        where = str(self.splits_path or self.root)
        seen: dict[str, str] = {}
        out: dict[str, np.ndarray] = {}
        for split in ("train", "val", "test"):
            names = lists.get(split, [])
            unknown = [k for k in names if k not in self._index]
            if unknown:
                raise DatasetFormatError(
                    f"split {split!r} ({where}) names {len(unknown)} file(s) not in "
                    f"{self.data_dir}, e.g. {unknown[0]!r}"
                )
            for k in names:
                if seen.setdefault(k, split) != split:
                    raise DatasetFormatError(
                        f"{k!r} is in both {seen[k]!r} and {split!r} ({where})"
                    )
            out[split] = np.unique(np.fromiter((self._index[k] for k in names), dtype=np.int64))
        return out
