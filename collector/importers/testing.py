"""Small published datasets in their exact on-disk layouts, written with rasterio and zarr.

Real sizes (264 / 132 / 44 px), real names (6- and 7-digit location folders, scene folders
``<sensing>_<generation>_T<tile>`` created out of date order), real encodings (SeCo uint8
JPEG GeoTIFFs in ``+proj=latlong``; SSL4EO-S12 v1 uint16 EPSG:4326; SSL4EO-S12 v1.1 Zarr
format 2 zips), and the stray files a download holds (a 44×44 ``<id>.tif`` preview beside
the scene folders, ``metadata.json`` in some scenes). Only the number of locations is small.
Images are constant per (location, season, band) so tests can check values exactly, or
textured (``texture=True``: seeded waves and noise) so benchmarks compress and decode
something closer to real imagery.
"""

from __future__ import annotations

import json
import random
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from shared.layout.bands import bands_for

SIZES = {10: 264, 20: 132, 60: 44}
TILES = ("18QVG", "32UNE", "31TCJ", "50SMK")


def scene_names(loc: int, n: int, year: int = 2020) -> list[tuple[str, np.datetime64]]:
    """``n`` scene folder names about 3 months apart, in date order, with their sensing time."""
    out = []
    for s in range(n):
        t = np.datetime64(f"{year}-01-05T10:20:30") + np.timedelta64(91 * s + loc % 7, "D")
        sensing = str(t).replace("-", "").replace(":", "")
        generation = str(t + np.timedelta64(12, "s")).replace("-", "").replace(":", "")
        out.append((f"{sensing}_{generation}_T{TILES[loc % len(TILES)]}", t))
    return out


def dn_value(loc: int, season: int, band: int) -> int:
    """The uint16 DN the SSL4EO v1 fixture stores (constant per band image, never 0)."""
    return 300 + 97 * band + 31 * season + 7 * loc


def seco_value(loc: int, season: int, band: int) -> int:
    """The uint8 value of a SeCo fixture image (constant: JPEG keeps it exactly)."""
    return 20 + 13 * band + 5 * season + loc % 4


def _texture(key: tuple[int, ...], n: int, base: float, amp: float) -> np.ndarray:
    """A seeded (n, n) field around ``base``: two waves plus pixel noise, float64."""
    rng = np.random.default_rng(key)
    y, x = np.mgrid[0:n, 0:n] / n
    f = rng.uniform(1, 6, 4)
    waves = np.sin(2 * np.pi * (f[0] * x + f[1] * y)) + 0.5 * np.cos(
        2 * np.pi * (f[2] * x - f[3] * y)
    )
    return base + amp * (waves / 1.5 + 0.15 * rng.standard_normal((n, n)))


def centre(loc: int) -> tuple[float, float]:
    return -75.0 + 2.5 * loc, 18.0 + 1.5 * loc


def write_tif(path: Path, values: np.ndarray, crs: str, bounds: tuple[float, ...], **opts) -> None:
    import rasterio
    from rasterio.transform import from_bounds

    h, w = values.shape[-2:]
    count = 1 if values.ndim == 2 else values.shape[0]
    with warnings.catch_warnings():  # rasterio's own use of affine's deprecated `*`
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        transform = from_bounds(*bounds, w, h)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=count,
        dtype=values.dtype,
        crs=crs,
        transform=transform,
        **opts,
    ) as dst:
        dst.write(values if values.ndim == 3 else values[None])


def patch_bounds(loc: int) -> tuple[float, float, float, float]:
    lon, lat = centre(loc)
    half_lon = 1320 / (111_320 * np.cos(np.radians(lat)))
    half_lat = 1320 / 110_574
    return lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat


#: GeoTIFF fixture layouts: (seasons per location, folder-name digits, CRS, uint8 JPEG pixels)
GEOTIFF_LAYOUTS: dict[str, tuple[int, int, str, bool]] = {
    "seco": (5, 6, "+proj=latlong", True),
    "ssl4eo": (4, 7, "EPSG:4326", False),
}


def write_geotiff_dataset(
    root: Path,
    kind: str,
    n_locations: int,
    level: str = "L2A",
    seed: int = 0,
    texture: bool = False,
) -> Path:
    """SeCo (``kind="seco"``) or SSL4EO-S12 v1 (``"ssl4eo"``) folders under ``root``."""
    rng = random.Random(seed)
    n_seasons, digits, crs, seco = GEOTIFF_LAYOUTS[kind]
    bands = bands_for(level)
    root.mkdir(parents=True, exist_ok=True)
    for loc in range(n_locations):
        folder = root / f"{loc:0{digits}d}"
        folder.mkdir()
        bounds = patch_bounds(loc)
        scenes = list(enumerate(scene_names(loc, n_seasons)))
        rng.shuffle(scenes)  # created out of date order
        for season, (name, _) in scenes:
            scene = folder / name
            scene.mkdir()
            for b, band in enumerate(bands):
                n = SIZES[band.resolution_m]
                if seco:
                    values = np.full((n, n), seco_value(loc, season, b), np.uint8)
                    opts = {"compress": "JPEG", "jpeg_quality": 90}
                else:
                    values = np.full((n, n), dn_value(loc, season, b), np.uint16)
                    opts = {"compress": "DEFLATE"}
                if texture:
                    field = _texture(
                        (seed, loc, season, b), n, float(values[0, 0]), 0.3 * values[0, 0]
                    )
                    values = np.clip(np.rint(field), 1, np.iinfo(values.dtype).max).astype(
                        values.dtype
                    )
                write_tif(scene / f"{band.name}.tif", values, crs, bounds, **opts)
            if season % 2:
                (scene / "metadata.json").write_text(json.dumps({"CLOUDY_PIXEL_PERCENTAGE": 3.2}))
        preview = np.full((3, 44, 44), 90, np.uint8)
        write_tif(folder / f"{folder.name}.tif", preview, crs, bounds)  # stray preview
    (root / "README.txt").write_text("downloaded with the dataset's own script\n")
    return root


def zarr_sample_values(file_no: int, sample: int, season: int, band: int) -> int:
    """The int16 value (with the +1000 offset) of the v1.1 fixture (constant per image)."""
    return 1000 + 200 + 50 * band + 11 * season + 3 * sample + 17 * file_no


def write_zarr_dataset(
    root: Path,
    samples_per_file: tuple[int, ...],
    level: str = "L1C",
    split: str = "train",
    texture: bool = False,
) -> Path:
    """SSL4EO-S12 v1.1 ``<root>/<split>/S2L1C/ssl4eos12_<split>_seasonal_data_NNNNNN.zarr.zip``
    (Zarr format 2, zipped), plus an S1 modality folder that a Sentinel-2 import must ignore."""
    import xarray as xr
    from pyproj import Transformer

    modality = {"L1C": "S2L1C", "L2A": "S2L2A"}[level]
    names = [b.name for b in bands_for(level)]
    folder = root / split / modality
    folder.mkdir(parents=True, exist_ok=True)
    for f, n in enumerate(samples_per_file, start=1):
        bands = np.zeros((n, 4, len(names), 264, 264), np.int16)
        cloud = np.zeros((n, 4, 264, 264), np.uint8)
        times = np.empty((n, 4), "datetime64[ns]")
        ids = np.empty((n, 4), object)
        lon, lat, crs = np.zeros(n), np.zeros(n), np.zeros(n, np.int32)
        xs, ys = np.zeros((n, 264)), np.zeros((n, 264))
        for i in range(n):
            lon[i], lat[i] = 8.0 + f + 0.3 * i, 47.0 + 0.2 * i
            zone = int((lon[i] + 180) // 6) + 1
            crs[i] = 32600 + zone
            cx, cy = Transformer.from_crs(4326, int(crs[i]), always_xy=True).transform(
                lon[i], lat[i]
            )
            cx, cy = round(cx / 10) * 10, round(cy / 10) * 10
            xs[i] = cx - 1320 + 5 + 10 * np.arange(264)  # pixel centres
            ys[i] = cy + 1320 - 5 - 10 * np.arange(264)
            order = [2, 0, 3, 1]  # seasons stored out of date order
            dated = scene_names(i + 10 * f, 4, year=2021)
            for t, s in enumerate(order):
                name, when = dated[s]
                times[i, t] = when
                ids[i, t] = name
                for b in range(len(names)):
                    value = zarr_sample_values(f, i, s, b)
                    if texture:
                        field = _texture((f, i, s, b), 264, value, 0.3 * (value - 1000))
                        bands[i, t, b] = np.clip(np.rint(field), 1, 32767)
                    else:
                        bands[i, t, b] = value
                cloud[i, t, : 10 * (s + 1)] = 1  # thick cloud on the top rows
                cloud[i, t, -5:] = 3  # shadow at the bottom
        ds = xr.Dataset(
            {
                "bands": (("sample", "time", "band", "y", "x"), bands),
                "cloud_mask": (("sample", "time", "y", "x"), cloud),
                "center_lon": (("sample",), lon),
                "center_lat": (("sample",), lat),
                "crs": (("sample",), crs),
                "x_": (("sample", "x"), xs),
                "y_": (("sample", "y"), ys),
                "time_": (("sample", "time"), times),
                "file_id": (("sample", "time"), ids.astype(str)),
            },
            coords={"band": [f"B{n[1:]:0>2}" if n != "B8A" else "B8A" for n in names]},
        )
        name = f"ssl4eos12_{split}_seasonal_data_{f:06d}.zarr"
        tmp = root / "_tmp" / name
        chunks = {  # one chunk per sample
            "bands": {"chunks": (1, 4, len(names), 264, 264)},
            "cloud_mask": {"chunks": (1, 4, 264, 264)},
        }
        ds.to_zarr(tmp, zarr_format=2, consolidated=True, mode="w", encoding=chunks)
        zip_folder(tmp, folder / f"{name}.zip")
    shutil.rmtree(root / "_tmp", ignore_errors=True)
    s1 = root / split / "S1GRD"
    s1.mkdir(parents=True, exist_ok=True)
    (s1 / f"ssl4eos12_{split}_seasonal_data_000001.zarr.zip").write_bytes(b"not S2")
    return root


def zip_folder(folder: Path, target: Path) -> None:
    """A Zarr directory → a ``.zarr.zip`` with its keys at the zip's root (ZIP_STORED)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
