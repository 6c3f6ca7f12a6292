"""The hostile inputs of the outside-file corpus (``tests/test_hostile_outside.py``): one
builder per input name, each making a malformed copy of a good original (published dataset
folders and zips, downstream datasets, weights and exports, store attributes and side files,
folders a command must not write into)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from tests.outside_inputs import (
    _DELETE,
    _drop,
    _each_band,
    _edit,
    _every_location,
    _rename_scenes,
    _set,
    _set_cell,
    ben_v1_labels,
    ben_v1_variant,
    ben_v2_variant,
    bomb_png,
    eurosat_variant,
    export_variant,
    folder_with,
    oscd_images,
    oscd_variant,
    raw_file,
    seco_variant,
    sparse_tif,
    store_attrs,
    store_damage,
    store_file,
    torch_file,
    zarr_variant,
)


def _truncate(path: Path, keep: int = 40) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _tifs(f):
    return lambda root: [f(p) for p in sorted(root.rglob("*.tif"))]


def _state_dict_list():
    import torch

    return [torch.zeros(3), torch.ones(2)]


def _state_dict_strings():
    return {"conv1.weight": "not a tensor"}


def _first_city_band(band: str, data: bytes):
    def mutate(root: Path) -> None:
        images = oscd_images(root)
        (images / "a" / "imgs_1_rect" / band).write_bytes(data)

    return mutate


def _oscd_masks(data: bytes):
    def mutate(root: Path) -> None:
        for p in root.rglob("cm.png"):
            p.write_bytes(data)

    return mutate


def _oscd_mask_size(root: Path) -> None:
    from PIL import Image

    for p in root.rglob("cm.png"):
        Image.fromarray(np.zeros((5, 7), np.uint8)).save(p)


def _oscd_band_size(root: Path) -> None:
    from tests.trainer.evaluate.fixtures import write_tif

    write_tif(oscd_images(root) / "a" / "imgs_1_rect" / "B03.tif", np.ones((1, 9, 9), np.uint16))


def _write_text(rel: str, text: str):
    def mutate(root: Path) -> None:
        (root / rel).write_text(text)

    return mutate


def _ben_csv_unknown(root: Path) -> None:
    (root / "train.csv").write_text("S2A_MSIL2A_nowhere_9_99,S1x\n")


def _ben_band(data: bytes):
    def mutate(root: Path) -> None:
        for p in sorted(root.rglob("*_B04.tif")):
            p.write_bytes(data)

    return mutate


def _ben_band_huge(root: Path) -> None:
    for p in sorted(root.rglob("*_B04.tif")):
        p.unlink()
        sparse_tif(p, 60_000, dtype="uint16")


def _eurosat_split(name: str, text: str):
    def mutate(root: Path) -> None:
        (root / name).write_text(text)

    return mutate


def _eurosat_lists(data: bytes):
    def mutate(root: Path) -> None:
        for split in ("train", "val", "test"):
            (root / f"eurosat-{split}.txt").write_bytes(data)

    return mutate


def _eurosat_huge(root: Path) -> None:
    for p in sorted(root.rglob("*.tif"))[:1]:
        p.unlink()
        sparse_tif(p, 100_000, count=13, dtype="uint16")


def _eurosat_bands(root: Path) -> None:
    from tests.trainer.evaluate.fixtures import write_tif

    for p in sorted(root.rglob("*.tif")):
        write_tif(p, np.ones((3, 16, 16), np.uint16))


def _seco_sparse(loc: Path) -> None:
    for scene in _scenes(loc)[:1]:
        (scene / "B2.tif").unlink()
        sparse_tif(scene / "B2.tif", 100_000)


def _scenes(loc: Path) -> list[Path]:
    return sorted(p for p in loc.iterdir() if p.is_dir())


def _seco_remove_scene(loc: Path) -> None:
    import shutil

    shutil.rmtree(_scenes(loc)[0])


def _seco_wrong_dtype(loc: Path) -> None:
    from collector.importers.testing import write_tif

    for scene in _scenes(loc):
        write_tif(scene / "B2.tif", np.ones((264, 264), np.uint16), "+proj=latlong", (0, 0, 1, 1))


def _seco_three_bands(loc: Path) -> None:
    from collector.importers.testing import write_tif

    for scene in _scenes(loc):
        write_tif(scene / "B2.tif", np.ones((3, 264, 264), np.uint8), "+proj=latlong", (0, 0, 1, 1))


def _seco_lat_400(loc: Path) -> None:
    from collector.importers.testing import write_tif

    for scene in _scenes(loc):
        for band in ("B2", "B3", "B4", "B8"):
            values = np.full((264, 264), 9, np.uint8)
            write_tif(scene / f"{band}.tif", values, "+proj=latlong", (690, 390, 700, 400))


def _seco_no_crs(loc: Path) -> None:
    from collector.importers.testing import write_tif

    for scene in _scenes(loc):
        for band in ("B2", "B3", "B4", "B8"):
            import rasterio

            values = np.full((1, 264, 264), 9, np.uint8)
            with rasterio.open(
                scene / f"{band}.tif", "w", driver="GTiff", width=264, height=264, count=1,
                dtype="uint8",
            ) as dst:  # fmt: skip
                dst.write(values)
    _ = write_tif


def _zarr_rows(n: int):
    def mutate(ds):
        return ds.isel(sample=slice(0, n))

    return mutate


def _zarr_short_x(ds):
    return ds.isel(x=slice(0, 10))


def _zarr_time_nat(ds):
    t = ds["time_"].values.copy()
    t[:] = np.datetime64("NaT")
    ds["time_"] = (ds["time_"].dims, t)
    return ds


def _zarr_huge_samples(root: Path, base: dict[str, Path]) -> None:
    """A zip whose metadata declares 10¹² samples (the chunks are not there)."""
    import json as _json

    zarr_variant(lambda ds: ds)(root, base)
    path = next(root.rglob("*.zarr.zip"))
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    for name in list(files):
        if name.endswith(".zarray") or name == ".zmetadata":
            doc = _json.loads(files[name])
            for meta in [doc, *doc.get("metadata", {}).values()] if name == ".zmetadata" else [doc]:
                if (
                    isinstance(meta, dict)
                    and "shape" in meta
                    and meta["shape"]
                    and meta["shape"][0] == 1
                ):
                    meta["shape"][0] = 10**12
            files[name] = _json.dumps(doc).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


def _zarr_bands_count(ds):
    return ds.isel(band=slice(0, 5))


# name → builder of the folder ``root/outside/<name>``
BUILDERS = {
    # SeCo / SSL4EO-S12 GeoTIFF folders (every location bad: nothing can be imported)
    "seco-names-unparsed": seco_variant(
        _every_location(lambda loc: _rename_scenes(loc, lambda k, n: f"scene_{k}"))
    ),
    "seco-names-bad-date": seco_variant(
        _every_location(
            lambda loc: _rename_scenes(
                loc, lambda k, n: f"2019139{k}T999999_20191399T000000_T18QVG"
            )
        )
    ),
    "seco-band-truncated": seco_variant(_every_location(_each_band("B4", _truncate))),
    "seco-band-text": seco_variant(
        _every_location(_each_band("B8", lambda p: p.write_text("not a tiff\n")))
    ),
    "seco-band-missing": seco_variant(_every_location(_each_band("B11", lambda p: p.unlink()))),
    "seco-band-sparse-100000": seco_variant(_every_location(_seco_sparse)),
    "seco-band-uint16": seco_variant(_every_location(_seco_wrong_dtype)),
    "seco-band-three-bands": seco_variant(_every_location(_seco_three_bands)),
    "seco-scene-missing": seco_variant(_every_location(_seco_remove_scene)),
    "seco-lat-400": seco_variant(_every_location(_seco_lat_400)),
    "seco-no-crs": seco_variant(_every_location(_seco_no_crs)),
    "seco-no-locations": folder_with({"README.txt": b"no location folders\n", "12345/x.tif": b"x"}),
    # SSL4EO-S12 v1.1 Zarr zips
    "zarr-zero-samples": zarr_variant(_zarr_rows(0)),
    "zarr-lon-nan": zarr_variant(_set("center_lon", np.nan)),
    "zarr-lon-700": zarr_variant(_set("center_lon", 700.0)),
    "zarr-lat-400": zarr_variant(_set("center_lat", 400.0)),
    "zarr-crs-99999": zarr_variant(_set("crs", np.int32(99999))),
    "zarr-crs-negative": zarr_variant(_set("crs", np.int32(-5))),
    "zarr-crs-degrees": zarr_variant(_set("crs", np.int32(4326))),
    "zarr-no-center-lon": zarr_variant(_drop("center_lon")),
    "zarr-five-bands": zarr_variant(_zarr_bands_count),
    "zarr-x-short": zarr_variant(_zarr_short_x),
    "zarr-time-nat": zarr_variant(_zarr_time_nat),
    "zarr-x-nan": zarr_variant(_set("x_", np.nan)),
    "zarr-huge-samples": _zarr_huge_samples,
    "zarr-not-a-zip": folder_with(
        {"train/S2L1C/ssl4eos12_train_seasonal_data_000001.zarr.zip": b"PK\x03\x04 cut"}
    ),
    # EuroSAT
    "eurosat-one-class": eurosat_variant(lambda root: None, classes=1),
    "eurosat-tif-text": eurosat_variant(_tifs(lambda p: p.write_text("text\n"))),
    "eurosat-tif-truncated": eurosat_variant(_tifs(_truncate)),
    "eurosat-three-bands": eurosat_variant(_eurosat_bands),
    "eurosat-huge-header": eurosat_variant(_eurosat_huge),
    "eurosat-split-partial": eurosat_variant(_eurosat_split("eurosat-train.txt", "x.tif\n")),
    "eurosat-empty": folder_with({"notes.txt": b"nothing here\n"}),
    "eurosat-split-binary": eurosat_variant(_eurosat_lists(b"\xff\xfe\x00binary")),
    # OSCD
    "oscd-cm-bomb": oscd_variant(_oscd_masks(bomb_png())),
    "oscd-cm-text": oscd_variant(_oscd_masks(b"not a png\n")),
    "oscd-cm-truncated": oscd_variant(_oscd_masks(bomb_png()[:30])),
    "oscd-cm-size": oscd_variant(_oscd_mask_size),
    "oscd-band-text": oscd_variant(_first_city_band("B02.tif", b"text")),
    "oscd-band-sizes": oscd_variant(_oscd_band_size),
    "oscd-train-unknown-city": oscd_variant(
        lambda r: (oscd_images(r) / "train.txt").write_text("a,b,zzz\n")
    ),
    "oscd-city-both": oscd_variant(lambda r: (oscd_images(r) / "test.txt").write_text("a,d,e\n")),
    "oscd-no-train": oscd_variant(lambda r: (oscd_images(r) / "train.txt").write_text("\n")),
    "oscd-train-txt-binary": oscd_variant(
        lambda r: (oscd_images(r) / "train.txt").write_bytes(b"a,\xff\xfe,b")
    ),
    "oscd-dates-binary": oscd_variant(
        lambda r: (oscd_images(r) / "a" / "dates.txt").write_bytes(b"\xff\x00date")
    ),
    # BigEarthNet v1
    "ben1-labels-list": ben_v1_variant(ben_v1_labels(["Sea and ocean"])),
    "ben1-labels-no-key": ben_v1_variant(ben_v1_labels({"classes": ["Sea and ocean"]})),
    "ben1-labels-numbers": ben_v1_variant(ben_v1_labels({"labels": [1, 2]})),
    "ben1-labels-string": ben_v1_variant(ben_v1_labels({"labels": "Sea and ocean"})),
    "ben1-labels-unknown": ben_v1_variant(ben_v1_labels({"labels": ["Moon dust"]})),
    "ben1-labels-not-json": ben_v1_variant(ben_v1_labels(b"{labels: [")),
    "ben1-labels-nan": ben_v1_variant(ben_v1_labels(b'{"labels": NaN}')),
    "ben1-labels-binary": ben_v1_variant(ben_v1_labels(b"\xff\xfe\x00\x01")),
    "ben1-train-csv-unknown": ben_v1_variant(_ben_csv_unknown),
    "ben1-train-csv-binary": ben_v1_variant(
        lambda r: (r / "train.csv").write_bytes(b"\xff\xfe\x00")
    ),
    "ben1-band-text": ben_v1_variant(_ben_band(b"text")),
    "ben1-band-huge": ben_v1_variant(_ben_band_huge),
    "ben1-stored-split-missing": ben_v1_variant(lambda r: None, split_lists=False),
    # BigEarthNet v2
    "ben2-null-labels": ben_v2_variant(_set_cell("labels", None)),
    "ben2-labels-string": ben_v2_variant(lambda f: f.assign(labels=f["labels"].map(";".join))),
    "ben2-labels-numbers": ben_v2_variant(lambda f: f.assign(labels=[[1, 2]] * len(f))),
    "ben2-null-patch-id": ben_v2_variant(_set_cell("patch_id", None)),
    "ben2-split-unknown": ben_v2_variant(_set_cell("split", "holdout")),
    "ben2-split-number": ben_v2_variant(lambda f: f.assign(split=3)),
    "ben2-duplicate-id": ben_v2_variant(lambda f: f.assign(patch_id=f["patch_id"].iloc[0])),
    "ben2-no-labels-column": ben_v2_variant(lambda f: f.drop(columns=["labels"])),
    "ben2-parquet-garbage": ben_v2_variant(raw=b"PAR1 not really PAR1"),
    # weights files
    "weights-list": torch_file(_state_dict_list),
    "weights-strings": torch_file(_state_dict_strings),
    "weights-empty-dict": torch_file(dict),
    "weights-number": torch_file(lambda: 5),
    "weights-text": raw_file("weights.pt", b"hello, not weights\n"),
    "weights-safetensors-text": raw_file("w.safetensors", b"hello, not safetensors\n"),
    # export folders
    "export-scaling-string": export_variant(_edit(scaling="imagenet")),
    "export-architecture-number": export_variant(_edit(architecture=5)),
    "export-architecture-unknown": export_variant(_edit(architecture="resnet9000")),
    "export-in-chans-text": export_variant(_edit(in_chans="three")),
    "export-scaling-short": export_variant(lambda m: _edit(scaling={**m["scaling"], "p2": [1]})(m)),
    "export-scaling-nan": export_variant(
        raw_config=b'{"architecture": "resnet18", "scaling": {"bands": ["B4"], "p2": [NaN], "p98": [1], "mean": [1], "std": [1]}}'
    ),
    "export-config-list": export_variant(raw_config=b"[1, 2, 3]"),
    "export-config-broken": export_variant(raw_config=b'{"architecture": '),
    "export-no-scaling": export_variant(_edit(scaling=_DELETE)),
    "export-weights-text": export_variant(_edit(), weights=b"this is text, not safetensors\n"),
    "export-weights-text-sha": export_variant(weights=b"this is text, not safetensors\n"),
    "export-weights-header-huge": export_variant(
        _edit(), weights=(2**60).to_bytes(8, "little") + b"{}"
    ),
    # stores with edited attributes or damaged side files
    "store-stats-string": store_attrs(stats="computed"),
    "store-stats-short": store_attrs(stats=lambda s: {**s, "mean": s["mean"][:2]}),
    "store-stats-text-number": store_attrs(stats=lambda s: {**s, "std": ["wide"] * len(s["std"])}),
    "store-stats-bands-number": store_attrs(stats=lambda s: {**s, "bands": 13}),
    "store-imported-from-string": store_attrs(imported_from="SeCo"),
    "store-imported-from-list": store_attrs(imported_from=["SeCo"]),
    "store-recipe-list": store_attrs(recipe=["seco"]),
    "store-recipe-title-number": store_attrs(recipe={"name": "x", "title": 5}),
    "store-config-list": store_attrs(config=[1, 2]),
    "store-plan-cities-string": store_attrs(config={"plan": {"cities": "many", "region": "world"}}),
    "store-plan-string": store_attrs(config={"plan": "world"}),
    "store-title-number": store_attrs(title=12),
    "store-lon-chunk": store_damage("lon"),
    "store-report-garbage": store_file("report.json", b"{not json"),
    "store-report-counts-text": store_file(
        "report.json", json.dumps({"summary": {"tried": "lots"}}).encode()
    ),
    # folders a command must not write into
    "out-foreign": folder_with({"notes.txt": b"mine\n"}),
    "out-foreign-config": folder_with({"config.json": b'{"mine": true}\n'}),
    "out-export-and-more": folder_with(
        {"config.json": b"{}", "model.safetensors": b"", "thesis.tex": b"x"}
    ),
    "out-results-garbage": folder_with({"results.csv": b"\x00\x01binary"}),
    "out-results-other-table": folder_with({"results.csv": b"a,b\n1,2\n"}),
}

FOLDERS = {name for name in BUILDERS}
