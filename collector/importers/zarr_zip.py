"""SSL4EO-S12 v1.1 (Zarr): ``ssl4eos12_{train,val}_seasonal_data_NNNNNN.zarr.zip`` files.

Each file is a zipped Zarr format 2 group of (usually) 64 samples, one folder per modality
(``S2L1C``, ``S2L2A``, …). Variables read: ``bands (sample, time, band, y, x)`` int16 with
every band at 264×264, ``cloud_mask (sample, time, y, x)`` uint8, ``center_lon``,
``center_lat (sample)``, ``crs (sample)`` the EPSG code of the UTM zone, ``x_ (sample, x)``
and ``y_ (sample, y)`` UTM pixel-centre coordinates, ``time_ (sample, time)`` and
``file_id (sample, time)`` product ids. Its S2 values carry a +1000 offset (to match ESA's
processing baseline ≥ 04.00); the import subtracts it so the store holds harmonized DN.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from collector.importers.base import (
    SIZE,
    BadInputError,
    DataError,
    ImportedSample,
    LocationRef,
    check_sample,
    offset_dn_to_dn,
)
from collector.importers.resample import NATIVE_FROM_10M, to_native, to_uint16
from shared.layout.bands import band_names
from shared.layout.encoding import CLOUD_NODATA

__all__ = ["Ssl4eoZarrImporter", "CLOUD_CLASSES"]

FILE_NAME = re.compile(r"^ssl4eos12_(train|val)_seasonal_data_\d{6}\.zarr\.zip$")
LEVEL_FOLDERS = {"L1C": "S2L1C", "L2A": "S2L2A"}
OFFSET = 1000
#: samples one zip may declare (the release's hold 64); more is a damaged or hostile header
MAX_SAMPLES_PER_FILE = 1_000_000
#: ``cloud_mask`` classes as the v1.1 release describes them (SEnSeI v2): 0 clear, 1 thick
#: cloud, 2 thin cloud, 3 cloud shadow → the store's cloud percent (0 clear, 100 cloud or
#: shadow); any other value → 255 (no data).
CLOUD_CLASSES = {0: 0, 1: 100, 2: 100, 3: 100}


def _open(path: str) -> Any:
    import xarray as xr
    from zarr.storage import ZipStore

    store = ZipStore(path, mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # consolidated-metadata and format-2 notices
        return xr.open_zarr(store, zarr_format=2, chunks=None), store


def _band_name(name: str) -> str:
    """``"B01"`` / ``"B1"`` / ``"b8a"`` → ``"B1"`` / ``"B1"`` / ``"B8A"``."""
    m = re.match(r"^[Bb]0*(\d+)([Aa]?)$", name.strip())
    return f"B{m.group(1)}{m.group(2).upper()}" if m else name


def _epsg(value: Any) -> int:
    if isinstance(value, (bytes, str, np.str_)):
        digits = re.findall(r"\d+", str(value))
        if not digits:
            raise BadInputError(f"crs {str(value)[:40]!r} names no EPSG code")
        return int(digits[-1][:9])
    number = float(value)
    if not np.isfinite(number) or number != int(number) or not 0 < number < 1e9:
        raise BadInputError(f"crs {number!r} is not an EPSG code")
    return int(number)


@dataclass
class _Block:
    """``bands`` (n, time, band, y, x) and ``cloud`` (n, time, y, x) of samples ``start…``."""

    start: int
    bands: np.ndarray
    cloud: np.ndarray | None


def _load_block(ds: Any, refs: Sequence[LocationRef]) -> _Block | None:
    """The samples of ``refs`` read in one go (a file's chunks may span many samples), or
    None when that fails, so that each sample is then read alone and only damaged ones fail."""
    start, stop = min(r.index for r in refs), max(r.index for r in refs) + 1
    try:
        part = ds.isel(sample=slice(start, stop))
        bands = np.asarray(part["bands"].transpose("sample", "time", "band", "y", "x").values)
        cloud = None
        if "cloud_mask" in ds.variables:
            cloud = np.asarray(part["cloud_mask"].transpose("sample", "time", "y", "x").values)
    except Exception:
        return None
    return _Block(start, bands, cloud)


class Ssl4eoZarrImporter:
    """SSL4EO-S12 v1.1 (Blumenstiel et al., 2025): 4 seasons, all bands at 264 px, UTM grids."""

    name: ClassVar[str] = "ssl4eo-s12-zarr"
    title: ClassVar[str] = "SSL4EO-S12 v1.1 (Zarr, Sentinel-2 part)"
    levels: ClassVar[tuple[str, ...]] = ("L1C", "L2A")
    n_seasons: ClassVar[int] = 4
    crs_units: ClassVar[str] = "metre"

    def __init__(self, level: str) -> None:
        if level not in self.levels:
            raise DataError(f"--level {level.lower()}: {self.name} holds L1C and L2A only")
        self.level = level
        self.bands = band_names(level)
        self.skipped: list[str] = []  # files that could not be listed, with the reason

    @classmethod
    def default_level(cls, data: Path) -> str:
        for level, folder in LEVEL_FOLDERS.items():
            if data.name == folder or any(p.name == folder for p in data.rglob(folder)):
                return level
        return "L1C"

    def locations(self, data: Path, limit: int | None = None) -> list[LocationRef]:
        """Every sample of every ``.zarr.zip`` under ``data`` (the level's modality folder
        when there is one), files in path order, samples in file order; with ``limit``, files
        are opened only until that many samples are listed."""
        if not data.is_dir():
            raise DataError(f"DATA {data} is not a folder")
        files = sorted(p for p in data.rglob("*.zarr.zip") if FILE_NAME.match(p.name))
        mine = LEVEL_FOLDERS[self.level]
        if any(p.parent.name in LEVEL_FOLDERS.values() for p in files) or data.name in (
            LEVEL_FOLDERS.values()
        ):
            files = [p for p in files if mine in (p.parent.name, data.name)]
        if not files:
            raise DataError(
                f"DATA {data} holds no {mine} files named ssl4eos12_<split>_seasonal_data_NNNNNN.zarr.zip"
            )
        refs: list[LocationRef] = []
        for path in files:
            if limit is not None and len(refs) >= limit:
                break
            rel = path.relative_to(data).as_posix()
            try:
                ds, store = _open(str(path))
                n = int(ds.sizes.get("sample", 0))
                store.close()
                if n == 0:
                    self.skipped.append(f"{rel}: holds 0 samples")
                    continue
                if n > MAX_SAMPLES_PER_FILE:  # declared, not held: refuse before listing
                    self.skipped.append(
                        f"{rel}: declares {n:,} samples, more than {MAX_SAMPLES_PER_FILE:,}"
                    )
                    continue
            except Exception as e:  # a damaged zip: recorded, its samples are not listed
                self.skipped.append(f"{rel}: unreadable ({type(e).__name__}: {str(e)[:100]})")
                continue
            refs += [LocationRef(f"{rel}:{i}", str(path), i) for i in range(n)]
        if not refs:
            why = self.skipped[0] if self.skipped else "every file holds 0 samples"
            raise DataError(f"DATA {data}: no readable samples ({why})")
        return refs[:limit]

    def read_many(self, refs: Sequence[LocationRef]) -> Iterator[ImportedSample | BadInputError]:
        """Samples of consecutive refs in one file are read with the file opened once."""
        i = 0
        while i < len(refs):
            j = i
            while j < len(refs) and refs[j].path == refs[i].path:
                j += 1
            group = refs[i:j]
            try:
                ds, store = _open(group[0].path)
            except Exception as e:
                reason = f"unreadable file ({type(e).__name__}: {str(e)[:100]})"
                yield from (BadInputError(f"{r.id}: {reason}") for r in group)
            else:
                try:
                    problem = self._check(ds)
                    block = None if problem else _load_block(ds, group)
                    for ref in group:
                        if problem:
                            yield BadInputError(f"{ref.id}: {problem}")
                            continue
                        try:
                            yield self._sample(ds, ref, block)
                        except BadInputError as e:
                            text = str(e)
                            yield (
                                e if text.startswith(ref.id) else BadInputError(f"{ref.id}: {text}")
                            )
                        except Exception as e:  # damaged chunks of one sample
                            yield BadInputError(
                                f"{ref.id}: unreadable ({type(e).__name__}: {str(e)[:100]})"
                            )
                finally:
                    store.close()
            i = j

    def _check(self, ds: Any) -> str | None:
        """Why this file's layout cannot be imported, or None."""
        need = ("bands", "time_", "file_id", "center_lon", "center_lat", "crs", "x_", "y_")
        missing = [v for v in need if v not in ds.variables]
        if missing:
            return f"variable(s) {', '.join(missing)} missing"
        shape = dict(zip(ds["bands"].dims, ds["bands"].shape, strict=True))
        want = {"time": self.n_seasons, "band": len(self.bands), "y": SIZE, "x": SIZE}
        wrong = [f"{d} {shape.get(d)} (expected {n})" for d, n in want.items() if shape.get(d) != n]
        if wrong:
            return "bands has " + ", ".join(wrong)
        if "band" in ds.coords:
            names = [_band_name(str(b)) for b in ds["band"].values]
            if names != list(self.bands):
                return f"band names {names} are not the {self.level} bands {list(self.bands)}"
        return None

    def _sample(self, ds: Any, ref: LocationRef, block: _Block | None = None) -> ImportedSample:
        i = ref.index
        if block is not None:
            raw = block.bands[i - block.start]
        else:
            raw = np.asarray(ds["bands"][i].transpose("time", "band", "y", "x").values)
        times = np.asarray(ds["time_"][i].values).astype("datetime64[ms]")
        if np.isnat(times).any():
            raise BadInputError(f"{ref.id}: time_ has missing dates")
        order = np.argsort(times, kind="stable")
        full = to_uint16(offset_dn_to_dn(raw[order]), raw[order] == 0)
        pixels = to_native(full, self.bands)
        ids = tuple(str(v) for v in np.asarray(ds["file_id"][i].values)[order])
        cloud, clear = None, np.full(self.n_seasons, np.nan, np.float32)
        if "cloud_mask" in ds.variables:
            if block is not None and block.cloud is not None:
                classes = block.cloud[i - block.start][order]
            else:
                classes = np.asarray(ds["cloud_mask"][i].transpose("time", "y", "x").values)
                classes = classes[order]
            cloud = np.full(classes.shape, CLOUD_NODATA, np.uint8)
            for value, percent in CLOUD_CLASSES.items():
                cloud[classes == value] = percent
            known = cloud != CLOUD_NODATA
            n_known = known.sum(axis=(1, 2))
            clear = np.where(
                n_known > 0, (cloud == 0).sum(axis=(1, 2)) / np.maximum(n_known, 1), np.nan
            ).astype(np.float32)
        x = np.asarray(ds["x_"][i].values, np.float64)
        y = np.asarray(ds["y_"][i].values, np.float64)
        if x.shape != (SIZE,) or y.shape != (SIZE,):
            raise BadInputError(f"{ref.id}: x_/y_ hold {x.shape}/{y.shape} values, expected {SIZE}")
        dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
        transform = (dx, 0.0, float(x[0]) - dx / 2, 0.0, dy, float(y[0]) - dy / 2)
        sample = ImportedSample(
            pixels=pixels,
            cloud=cloud,
            clear=clear,
            time=times[order],
            product_id=ids,
            lon=float(ds["center_lon"][i].values),
            lat=float(ds["center_lat"][i].values),
            epsg=_epsg(ds["crs"][i].values.item()),
            transform=transform,
        )
        return check_sample(sample, ref.id, self.n_seasons, len(self.bands), self.crs_units)

    def provenance(self) -> dict[str, Any]:
        return {
            "dataset": self.title,
            "format": self.name,
            "cite": "Blumenstiel et al., SSL4EO-S12 v1.1, 2025; Wang et al., SSL4EO-S12, 2023",
            "quantisation": "none (int16 DN as published)",
            "dn_mapping": f"DN = value − {OFFSET} (the release adds {OFFSET} to every scene); "
            "0 stays no data, other results clipped to ≥ 1",
            "resampling": NATIVE_FROM_10M,
            "georeferencing": "the source's exact UTM grid (crs, x_/y_ pixel centres)",
            "cloud_mask": "cloud_mask read as classes 0 clear, 1 thick cloud, 2 thin cloud, "
            "3 shadow (an assumption: check the release's documentation) → 0, 100, 100, 100 %; "
            "other values → 255; clear_fraction = share of class 0",
            "seasons": "the 4 scenes of each sample, oldest first",
            "time_and_product_id": "from time_ and file_id",
        }
