"""BigEarthNet: multi-label land cover of Sentinel-2 L2A patches (120 × 120 px at 10 m).

Sumbul et al., "BigEarthNet: A Large-Scale Benchmark Archive for Remote Sensing Image
Understanding", IGARSS 2019; reBEN: Clasen et al., "reBEN: Refined BigEarthNet Dataset for
Remote Sensing Image Analysis", 2024. 12 bands (L2A: no B10), one GeoTIFF per band at its
native resolution (120 px at 10 m, 60 px at 20 m, 20 px at 60 m); bands read here are
resampled (bilinear) to 120 px.

The version is detected from the folder given (or the one folder inside it that holds it):

* **v1** — ``BigEarthNet-v1.0/<patch>/<patch>_B01.tif … _B12.tif, _B8A.tif`` and
  ``<patch>_labels_metadata.json`` (``labels``: 43-class names). Patches named in
  ``patches_with_seasonal_snow.csv`` or ``patches_with_cloud_and_shadow.csv`` (beside the
  folder) are left out. Splits: the official ``train.csv``, ``val.csv``, ``test.csv`` (one
  patch per line, or ``S2name,S1name``) beside the folder or in ``splits/``; without them, a
  seeded 60/20/20 split of the patch names, stored as JSON (``splits_file``).
* **v2 (reBEN)** — ``BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<band>.tif`` and
  ``metadata.parquet`` (``patch_id``, ``labels`` as 19-class names, ``split`` ∈ train,
  validation, test). Rows flagged ``contains_seasonal_snow`` or ``contains_cloud_or_shadow``
  are left out where those columns exist.

Labels are read lazily, batch by batch, so the 590k-patch release is never held in memory;
only the patch names are. ``label_fraction`` keeps that fraction of the training patches,
drawn once without replacement by ``numpy.random.default_rng(0)`` from the sorted training
names (the same subset for every encoder and run; validation and test stay whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling

from shared.errors import OutsideFileError
from shared.outside import (
    check_mapping,
    check_str_list,
    read_json,
    read_raster,
    read_text,
    safe_text,
    shown,
)
from trainer.evaluate.readers.base import (
    DatasetFormatError,
    DatasetNotFoundError,
    as_uint16,
    check_split_name,
    default_splits_path,
    select_bands,
)
from trainer.evaluate.readers.bigearthnet_classes import CLASSES_19, CLASSES_43, labels_to_indices
from trainer.evaluate.readers.oscd import band_file
from trainer.evaluate.splits import stored_split

__all__ = ["BigEarthNet", "V1_FOLDER", "V2_FOLDER", "EXCLUSION_LISTS", "LABEL_FRACTION_SEED"]

V1_FOLDER = "BigEarthNet-v1.0"
V2_FOLDER = "BigEarthNet-S2"
V2_METADATA = "metadata.parquet"
EXCLUSION_LISTS = ("patches_with_seasonal_snow.csv", "patches_with_cloud_and_shadow.csv")
SPLIT_FILES = {"train": "train.csv", "val": "val.csv", "test": "test.csv"}
LABEL_FRACTION_SEED = 0
SIZE = 120


def _first_column(path: Path) -> list[str]:
    """Patch names in the first column of a list file (header-less; blank lines skipped)."""
    names = []
    for line in read_text(path, max_bytes=256 << 20, what="patch list").splitlines():
        name = line.split(",")[0].strip()
        if name and name.lower() not in ("patch_id", "s2name", "name"):
            names.append(name)
    return names


def _locate(root: Path) -> tuple[str, Path]:
    """``("v1" | "v2", base folder)``: the folder holding the release's top-level entries."""
    if not root.is_dir():
        raise DatasetNotFoundError(f"BigEarthNet root {root} does not exist")
    for base in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        if (base / V2_METADATA).is_file() and (base / V2_FOLDER).is_dir():
            return "v2", base
        if (base / V1_FOLDER).is_dir():
            return "v1", base
    raise DatasetNotFoundError(
        f"no BigEarthNet under {root}: expected {V1_FOLDER}/ (v1) or {V2_FOLDER}/ with "
        f"{V2_METADATA} (v2, reBEN) in it or one folder down"
    )


class BigEarthNet:
    """BigEarthNet v1 or v2 as a multi-label image dataset.

    ``images(idx)`` is ``(n, len(bands), 120, 120)`` uint16; ``labels(idx)`` is ``(n, K)`` bool
    with ``K = len(classes)`` (19 or 43); ``indices(split)`` sorted int64.

    Raises:
        DatasetNotFoundError: no release under ``root``, a missing band file.
        DatasetFormatError: split lists naming unknown patches, 43 classes asked of v2.
        ValueError: bad ``classes``, ``label_fraction`` or bands (B10 is not in L2A).
    """

    multilabel = True

    def __init__(
        self,
        root: str | Path,
        bands: str | Sequence[str] | None = None,
        classes: int = 19,
        label_fraction: float = 1.0,
        splits_file: str | Path | None = None,
    ) -> None:
        if classes not in (19, 43):
            raise ValueError(f"--bigearthnet-classes {classes}: choose 19 or 43")
        if not 0 < label_fraction <= 1:
            raise ValueError(f"--label-fraction {label_fraction}: need 0 < fraction ≤ 1")
        if bands is None or (isinstance(bands, str) and bands.strip().lower() == "all"):
            self.bands = tuple(b for b in select_bands(None) if b != "B10")
        else:
            self.bands = select_bands(bands)
        if "B10" in self.bands:
            raise ValueError("BigEarthNet is Sentinel-2 L2A: it has no band B10")
        self.root = Path(root)
        self.version, self.base = _locate(self.root)
        self.n_classes = classes
        self.classes = CLASSES_19 if classes == 19 else CLASSES_43
        self.label_fraction = label_fraction
        self._pool = ThreadPoolExecutor(max_workers=4)
        if self.version == "v1":
            names, splits = self._v1(splits_file)
            self._label_cache: dict[int, list[str]] | None = None
        else:
            if classes == 43:
                raise DatasetFormatError(
                    "BigEarthNet v2 (reBEN) labels use the 19-class nomenclature only; "
                    "use --bigearthnet-classes 19"
                )
            names, splits, labels = self._v2()
            self._label_cache = labels
        self.names: tuple[str, ...] = tuple(names)
        index = {n: i for i, n in enumerate(self.names)}
        for split in SPLIT_FILES:
            unknown = [n for n in splits[split] if n not in index]
            if unknown:
                raise DatasetFormatError(
                    f"BigEarthNet {split} split names {len(unknown)} patch(es) not in {self.base} "
                    f"(e.g. {safe_text(unknown[0], 60)!r}): the data changed since the split was "
                    "stored; delete it to make a new one, or pass another splits_file"
                )
        self._splits = {
            s: np.array(sorted(index[n] for n in splits[s]), dtype=np.int64) for s in SPLIT_FILES
        }
        full = self._splits["train"]
        if label_fraction < 1 and full.size:
            keep = max(1, int(round(label_fraction * full.size)))
            order = sorted(full.tolist(), key=lambda i: self.names[i])
            pick = np.random.default_rng(LABEL_FRACTION_SEED).choice(
                len(order), size=keep, replace=False
            )
            self._splits["train"] = np.array(sorted(order[j] for j in pick), dtype=np.int64)

    # -- layouts --------------------------------------------------------------------------------

    def _v1(self, splits_file: str | Path | None) -> tuple[list[str], dict[str, list[str]]]:
        folder = self.base / V1_FOLDER
        excluded: set[str] = set()
        for name in EXCLUSION_LISTS:
            for where in (self.base / name, folder / name):
                if where.is_file():
                    excluded |= set(_first_column(where))
        present = sorted(e.name for e in _scandir(folder) if e.is_dir() and e.name not in excluded)
        lists = self._official_lists()
        if lists is not None:
            known = set(present)
            for split, names in lists.items():
                unknown = [n for n in names if n not in known and n not in excluded]
                if unknown:
                    raise DatasetFormatError(
                        f"{split} list names {len(unknown)} patch(es) missing from {folder} "
                        f"(e.g. {unknown[0]})"
                    )
            return present, {s: [n for n in v if n not in excluded] for s, v in lists.items()}
        path = (
            Path(splits_file)
            if splits_file is not None
            else default_splits_path(self.base, "seco-split-bigearthnet-v1.json")
        )

        def make() -> dict[str, list[str]]:
            order = np.random.default_rng(0).permutation(len(present))
            cut = np.rint(np.array([0.6, 0.8]) * len(present)).astype(int)
            chosen = [present[j] for j in order]
            return {
                "train": sorted(chosen[: cut[0]]),
                "val": sorted(chosen[cut[0] : cut[1]]),
                "test": sorted(chosen[cut[1] :]),
            }

        stored = stored_split(path, make)
        return present, {name: stored.get(name, []) for name in SPLIT_FILES}

    def _official_lists(self) -> dict[str, list[str]] | None:
        for folder in (self.base, self.base / "splits"):
            found = {s: folder / f for s, f in SPLIT_FILES.items()}
            if all(p.is_file() for p in found.values()):
                return {s: _first_column(p) for s, p in found.items()}
        return None

    def _v2(self) -> tuple[list[str], dict[str, list[str]], dict[int, list[str]]]:
        import pandas as pd

        path = self.base / V2_METADATA
        try:
            meta = pd.read_parquet(path)
        except Exception as e:  # pyarrow's many error types: not a parquet file, truncated
            raise DatasetFormatError(
                str(path), f"not a readable parquet file ({safe_text(e, 100)})"
            ) from e
        missing = {"patch_id", "labels", "split"} - set(meta.columns)
        if missing:
            raise DatasetFormatError(f"{path} lacks columns {sorted(missing)}")
        for column in ("patch_id", "split"):
            bad = meta[column].map(lambda v: not isinstance(v, str))
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DatasetFormatError(
                    str(path),
                    f"{column} of row {row} is {shown(meta[column].iloc[row])}, not a string",
                )
        bad_labels = meta["labels"].map(
            lambda v: (
                isinstance(v, (str, bytes))
                or not hasattr(v, "__len__")
                or not all(isinstance(x, str) for x in v)
            )
        )
        if bad_labels.any():
            row = int(np.flatnonzero(bad_labels.to_numpy())[0])
            raise DatasetFormatError(
                str(path),
                f"labels of row {row} ({meta['patch_id'].iloc[row]}) is "
                f"{shown(meta['labels'].iloc[row])}, not a list of class names",
            )
        if meta["patch_id"].duplicated().any():
            first = meta["patch_id"][meta["patch_id"].duplicated()].iloc[0]
            raise DatasetFormatError(str(path), f"patch_id {safe_text(first, 60)!r} appears twice")
        for flag in ("contains_seasonal_snow", "contains_cloud_or_shadow"):
            if flag in meta.columns:
                meta = meta[~meta[flag].fillna(False).astype(bool)]
        meta = meta.sort_values("patch_id").reset_index(drop=True)
        names = meta.patch_id.astype(str).tolist()
        split_of = {"train": "train", "validation": "val", "val": "val", "test": "test"}
        unknown = set(meta.split) - set(split_of)
        if unknown:
            raise DatasetFormatError(f"{V2_METADATA}: unknown split value(s) {sorted(unknown)}")
        splits: dict[str, list[str]] = {s: [] for s in SPLIT_FILES}
        for name, split in zip(names, meta.split, strict=True):
            splits[split_of[split]].append(name)
        labels = {i: [str(x) for x in v] for i, v in enumerate(meta.labels)}
        return names, splits, labels

    # -- items ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"BigEarthNet({str(self.root)!r}, {self.version}, {len(self)} patches)"

    def indices(self, split: str) -> np.ndarray:
        """Sorted int64 indices of ``"train"`` (after ``label_fraction``), ``"val"``, ``"test"``."""
        return self._splits[check_split_name(split)].copy()

    def folder(self, i: int) -> Path:
        name = self.names[i]
        if self.version == "v1":
            return self.base / V1_FOLDER / name
        return self.base / V2_FOLDER / name.rsplit("_", 2)[0] / name

    def image(self, i: int) -> np.ndarray:
        """Patch ``i`` as ``(C, 120, 120)`` uint16 in the order of ``bands``."""
        folder, name = self.folder(i), self.names[i]
        planes = []
        for band in self.bands:
            path = folder / f"{name}_{band_file(band)}"
            if not path.is_file():
                raise DatasetNotFoundError(f"BigEarthNet patch {name}: {path} is missing")
            plane = read_raster(
                path,
                max_pixels=4 * SIZE * SIZE,  # a band is at most 120 px a side
                out_shape=(SIZE, SIZE),
                resampling=Resampling.bilinear,
            )
            planes.append(as_uint16(plane, str(path)))
        return np.stack(planes)

    def images(self, idx: np.ndarray) -> np.ndarray:
        """``(n, C, 120, 120)`` uint16, read by a few threads (rasterio releases the GIL)."""
        return np.stack(list(self._pool.map(self.image, (int(i) for i in idx))))

    def label_names(self, i: int) -> list[str]:
        """Label names of patch ``i`` as stored (43-class in v1, 19-class in v2)."""
        if self._label_cache is not None:
            return self._label_cache[i]
        name = self.names[i]
        path = self.folder(i) / f"{name}_labels_metadata.json"
        if not path.is_file():
            raise DatasetNotFoundError(f"BigEarthNet patch {name}: {path} is missing")
        try:
            doc = read_json(path, max_bytes=1 << 20, what="labels JSON")
            check_mapping(str(path), "the labels file", doc, required={"labels": list})
            return check_str_list(str(path), "labels", doc["labels"], max_items=1000)
        except OutsideFileError as e:
            raise DatasetFormatError(str(e)) from e

    def labels(self, idx: np.ndarray) -> np.ndarray:
        """``(n, K)`` bool multi-hot labels of the patches ``idx``."""
        out = np.zeros((len(idx), self.n_classes), dtype=bool)
        for row, i in enumerate(idx):
            try:
                out[row, labels_to_indices(self.label_names(int(i)), self.n_classes)] = True
            except ValueError as e:
                raise DatasetFormatError(f"BigEarthNet patch {self.names[int(i)]}: {e}") from e
        return out


def _scandir(folder: Path):  # -> Iterator[os.DirEntry]
    import os

    with os.scandir(folder) as entries:
        yield from entries
