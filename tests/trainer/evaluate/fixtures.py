"""Tiny EuroSAT and OSCD copies in the exact released layouts, with values that say where they
belong, so a test can tell a wrong file, label, band order or mask from a right one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import Affine

from trainer.evaluate.readers.base import L1C_ORDER
from trainer.evaluate.readers.eurosat import EUROSAT_FILE_ORDER
from trainer.evaluate.readers.oscd import DATE_FOLDERS, OSCD_FOLDERS, band_file

EUROSAT_CLASSES = (
    "AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial",
    "Pasture", "PermanentCrop", "Residential", "River", "SeaLake",
)  # fmt: skip
CRS = "EPSG:32632"  # UTM 32N, where many EuroSAT patches lie


def write_tif(path: Path, data: np.ndarray, x0: float = 500_000, y0: float = 5_000_000) -> None:
    """A ``(bands, H, W)`` uint16 GeoTIFF on a 10 m UTM grid whose top-left corner is (x0, y0)."""
    count, height, width = data.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count}
    profile |= {"dtype": "uint16", "crs": CRS, "transform": Affine(10, 0, x0, 0, -10, y0)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def eurosat_value(c: int, i: int, file_band: int) -> int:
    """DN of every pixel of the file band at 1-based position ``file_band`` (B8A is 13) of file
    ``i`` (0-based; named ``<Class>_<i + 1>.tif``) of class ``c``."""
    return 1000 * (c + 1) + 20 * i + file_band


def make_eurosat(
    root: Path, per_class: int = 4, classes: int = 3, size: int = 64, seed: int = 0
) -> Path:
    """Write ``classes`` class folders of ``per_class`` 13-band uint16 GeoTIFFs each into ``root``
    (bands in the EuroSAT file order B1…B12, B8A); the seed moves the patches' map positions."""
    if not (1 <= classes <= len(EUROSAT_CLASSES) and 1 <= per_class <= 49):
        raise ValueError(f"classes={classes}, per_class={per_class}: values would collide")
    rng = np.random.default_rng(seed)
    for c, name in enumerate(EUROSAT_CLASSES[:classes]):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            data = np.stack(
                [
                    np.full((size, size), eurosat_value(c, i, pos), np.uint16)
                    for pos in range(1, len(EUROSAT_FILE_ORDER) + 1)
                ]
            )
            x0, y0 = 300_000 + 640 * int(rng.integers(0, 1000)), 5_500_000 - 640 * i
            write_tif(folder / f"{name}_{i + 1}.tif", data, x0, y0)
    return root


def oscd_value(city: int, date: int, band: str) -> int:
    """DN of every pixel of ``band`` of city ``city`` (index in the ``cities`` argument) on date
    0 (before) or 1 (after)."""
    return 1000 * (city + 1) + 100 * date + L1C_ORDER.index(band) + 1


def oscd_shape(city: int, size: tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` of a city: sizes differ per city, as in the release."""
    return size[0] + city, size[1] + 2 * city


def oscd_mask(city: int, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The known change mask of a city, ``(H, W)`` bool (about 20% change)."""
    return np.random.default_rng([seed, city]).random(shape) < 0.2


def make_oscd(
    root: Path,
    cities: tuple[str, ...] = ("a", "b", "c", "d", "e"),
    train: tuple[str, ...] = ("a", "b", "c"),
    test: tuple[str, ...] = ("d", "e"),
    size: tuple[int, int] = (40, 32),
    seed: int = 0,
) -> Path:
    """Write the OSCD release layout into ``root``: 13 single-band tifs per date and city,
    dates.txt, train.txt/test.txt and cm.png masks (0/255; the first city's as RGB, the rest L)."""
    images = root / OSCD_FOLDERS["images"]
    images.mkdir(parents=True, exist_ok=True)
    (images / "train.txt").write_text(",".join(train) + "\n")
    (images / "test.txt").write_text(",".join(test) + "\n")
    for k, city in enumerate(cities):
        h, w = oscd_shape(k, size)
        for date, folder in enumerate(DATE_FOLDERS):
            (images / city / folder).mkdir(parents=True, exist_ok=True)
            for band in L1C_ORDER:
                data = np.full((1, h, w), oscd_value(k, date, band), np.uint16)
                write_tif(images / city / folder / band_file(band), data, 400_000 + 10_000 * k)
        (images / city / "dates.txt").write_text(
            f"date_1: 2016{k + 1:02d}17\ndate_2: 2018{k + 1:02d}28\n"
        )
        labels = root / OSCD_FOLDERS["test" if city in test else "train"] / city / "cm"
        labels.mkdir(parents=True, exist_ok=True)
        grey = oscd_mask(k, (h, w), seed).astype(np.uint8) * 255
        img = Image.fromarray(np.stack([grey] * 3, -1)) if k == 0 else Image.fromarray(grey)
        img.save(labels / "cm.png")
    return root
