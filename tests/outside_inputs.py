"""Hostile outside files for the corpus: damaged copies of published datasets, weights, exports
and stores, each built once into its own folder by a small function.

Every builder takes the folder to fill (``root / <name>``) and the good originals it may copy
(``base``); it returns nothing. The corpus (``tests/test_hostile_outside.py``) names the folders
in its command lines.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from collector.importers.testing import write_tif, zip_folder

Builder = Callable[[Path, dict[str, Path]], None]

#: a PNG header (signature + IHDR) declaring 20000 × 20000 px greyscale, then junk: 200 bytes
_IHDR = b"IHDR" + (20000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])


def bomb_png() -> bytes:
    import zlib

    def chunk(kind_and_data: bytes) -> bytes:
        n = len(kind_and_data) - 4
        return n.to_bytes(4, "big") + kind_and_data + zlib.crc32(kind_and_data).to_bytes(4, "big")

    head = b"\x89PNG\r\n\x1a\n" + chunk(_IHDR)
    pad = 200 - len(head) - 12
    return head + chunk(b"IDAT" + zlib.compress(b"")[:2] + b"\x00" * (pad - 2))


def sparse_tif(path: Path, side: int, count: int = 1, dtype: str = "uint8") -> None:
    """A GeoTIFF declaring ``side``² px that holds (almost) no data: sparse tiles, a few KB."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=side,
        height=side,
        count=count,
        dtype=dtype,
        crs="EPSG:4326",
        transform=from_origin(0, 10, 1e-4, 1e-4),
        tiled=True,
        blockxsize=256,
        blockysize=256,
        sparse_ok=True,
        compress="DEFLATE",
    ):
        pass


# -- published pre-training datasets -----------------------------------------------------------


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _scenes(loc: Path) -> list[Path]:
    return sorted(p for p in loc.iterdir() if p.is_dir())


def seco_variant(mutate: Callable[[Path], None]) -> Builder:
    """A copy of the 2-location SeCo fixture with ``mutate(copy)`` applied."""

    def build(root: Path, base: dict[str, Path]) -> None:
        mutate(_copy(base["seco"], root))

    return build


def _every_location(f: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(data: Path) -> None:
        for loc in sorted(p for p in data.iterdir() if p.is_dir()):
            f(loc)

    return apply


def _rename_scenes(loc: Path, name: Callable[[int, str], str]) -> None:
    for k, scene in enumerate(_scenes(loc)):
        scene.rename(loc / name(k, scene.name))


def _each_band(band: str, f: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(loc: Path) -> None:
        for scene in _scenes(loc):
            f(scene / f"{band}.tif")

    return apply


def zarr_variant(mutate: Callable[[Any], Any], samples: int = 1) -> Builder:
    """An SSL4EO-S12 v1.1 zip holding the fixture's first ``samples`` samples with
    ``mutate(xarray Dataset) -> Dataset`` applied, in the release's folder layout."""

    def build(root: Path, base: dict[str, Path]) -> None:
        import xarray as xr
        from zarr.storage import ZipStore

        good = next(base["zarr"].rglob("*_000001.zarr.zip"))
        store = ZipStore(str(good), mode="r")
        ds = xr.open_zarr(store, zarr_format=2, chunks=None).isel(sample=slice(0, samples)).load()
        store.close()
        ds = mutate(ds)
        folder = root / "train" / "S2L1C"
        folder.mkdir(parents=True)
        tmp = root.parent / f"_{root.name}.zarr"
        ds.to_zarr(tmp, zarr_format=2, consolidated=True, mode="w")
        zip_folder(tmp, folder / "ssl4eos12_train_seasonal_data_000001.zarr.zip")
        shutil.rmtree(tmp)

    return build


def _set(name: str, value: Any) -> Callable[[Any], Any]:
    def mutate(ds: Any) -> Any:
        ds[name] = (ds[name].dims, np.full(ds[name].shape, value, dtype=np.asarray(value).dtype))
        return ds

    return mutate


def _drop(name: str) -> Callable[[Any], Any]:
    return lambda ds: ds.drop_vars(name)


# -- downstream datasets ------------------------------------------------------------------------


def eurosat_variant(mutate: Callable[[Path], None], classes: int = 2) -> Builder:
    def build(root: Path, base: dict[str, Path]) -> None:
        from tests.trainer.evaluate.fixtures import make_eurosat

        make_eurosat(root, per_class=3, classes=classes, size=16)
        mutate(root)

    return build


def _all_tifs(root: Path, f: Callable[[Path], None]) -> None:
    for p in sorted(root.rglob("*.tif")):
        f(p)


def oscd_variant(mutate: Callable[[Path], None], **kw: Any) -> Builder:
    def build(root: Path, base: dict[str, Path]) -> None:
        from tests.trainer.evaluate.fixtures import make_oscd

        make_oscd(root, size=(24, 20), **kw)
        mutate(root)

    return build


def oscd_images(root: Path) -> Path:
    from trainer.evaluate.readers.oscd import OSCD_FOLDERS

    return root / OSCD_FOLDERS["images"]


def ben_v1_variant(mutate: Callable[[Path], None], split_lists: bool = True) -> Builder:
    def build(root: Path, base: dict[str, Path]) -> None:
        from tests.trainer.evaluate.bigearthnet_fixtures import make_bigearthnet_v1

        make_bigearthnet_v1(root, n=6, split_lists=split_lists)
        mutate(root)

    return build


def ben_v1_labels(doc: Any) -> Callable[[Path], None]:
    """Every patch's labels file replaced by ``doc`` (bytes as they are, else JSON)."""

    def mutate(root: Path) -> None:
        for p in root.rglob("*_labels_metadata.json"):
            p.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())

    return mutate


def ben_v2_variant(mutate: Callable[[Any], Any] | None = None, raw: bytes | None = None) -> Builder:
    """BigEarthNet v2 with ``metadata.parquet`` rewritten by ``mutate(frame)`` (or replaced by
    ``raw`` bytes)."""

    def build(root: Path, base: dict[str, Path]) -> None:
        import pandas as pd

        from tests.trainer.evaluate.bigearthnet_fixtures import make_bigearthnet_v2

        make_bigearthnet_v2(root, n=8)
        path = root / "metadata.parquet"
        if raw is not None:
            path.write_bytes(raw)
        elif mutate is not None:
            frame = mutate(pd.read_parquet(path))
            frame.to_parquet(path)

    return build


def _set_cell(column: str, value: Any, row: int = 0) -> Callable[[Any], Any]:
    def mutate(frame: Any) -> Any:
        frame[column] = frame[column].astype(object)
        frame.at[frame.index[row], column] = value
        return frame

    return mutate


# -- weights and exports --------------------------------------------------------------------------


def torch_file(obj: Callable[[], Any]) -> Builder:
    def build(root: Path, base: dict[str, Path]) -> None:
        import torch

        root.mkdir()
        torch.save(obj(), root / "weights.pt")

    return build


def raw_file(name: str, data: bytes) -> Builder:
    def build(root: Path, base: dict[str, Path]) -> None:
        root.mkdir()
        (root / name).write_bytes(data)

    return build


def export_variant(
    config: Callable[[dict[str, Any]], Any] | None = None,
    weights: bytes | None = None,
    raw_config: bytes | None = None,
) -> Builder:
    """A copy of a good export with its config edited (``config(meta)`` returns the new one),
    replaced by ``raw_config`` bytes, or its weights replaced by ``weights`` bytes."""

    def build(root: Path, base: dict[str, Path]) -> None:
        _copy(base["export"], root)
        meta = json.loads((root / "config.json").read_text())
        if config is not None:
            (root / "config.json").write_text(json.dumps(config(meta)))
        if raw_config is not None:
            (root / "config.json").write_bytes(raw_config)
        if weights is not None:
            (root / "model.safetensors").write_bytes(weights)

    return build


def _edit(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(meta: dict[str, Any]) -> dict[str, Any]:
        meta = dict(meta)
        for key, value in changes.items():
            if value is _DELETE:
                meta.pop(key, None)
            else:
                meta[key] = value
        meta.pop("weights_sha256", None)  # so the edit itself is what is refused
        return meta

    return edit


_DELETE = object()


# -- stores ----------------------------------------------------------------------------------------


def store_attrs(**changes: Any) -> Builder:
    """A copy of the small finished store with root attributes changed (``_DELETE`` removes)."""

    def build(root: Path, base: dict[str, Path]) -> None:
        _copy(base["store"], root)
        meta_path = root / "zarr.json"
        meta = json.loads(meta_path.read_text())
        attrs = meta.setdefault("attributes", {})
        for key, value in changes.items():
            if value is _DELETE:
                attrs.pop(key, None)
            elif callable(value):
                attrs[key] = value(attrs.get(key))
            else:
                attrs[key] = value
        meta_path.write_text(json.dumps(meta))
        for consolidated in ("zmetadata", ".zmetadata"):
            (root / consolidated).unlink(missing_ok=True)

    return build


def store_damage(array: str) -> Builder:
    """A copy of the small store whose first chunk object of ``array`` is overwritten."""

    def build(root: Path, base: dict[str, Path]) -> None:
        _copy(base["store"], root)
        chunks = sorted(
            p for p in (root / array).rglob("*") if p.is_file() and p.name != "zarr.json"
        )
        chunks[0].write_bytes(b"\x00garbage" * 3)

    return build


def store_file(name: str, data: bytes) -> Builder:
    def build(root: Path, base: dict[str, Path]) -> None:
        _copy(base["store"], root)
        (root / name).write_bytes(data)

    return build


def folder_with(files: dict[str, bytes]) -> Builder:
    def build(root: Path, base: dict[str, Path]) -> None:
        root.mkdir()
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)

    return build


__all__ = [
    "bomb_png",
    "sparse_tif",
    "seco_variant",
    "zarr_variant",
    "eurosat_variant",
    "oscd_variant",
    "ben_v1_variant",
    "ben_v2_variant",
    "torch_file",
    "raw_file",
    "export_variant",
    "store_attrs",
    "store_damage",
    "store_file",
    "folder_with",
    "write_tif",
    "zipfile",
]
