"""Property-based tests of the readers of outside files (issue 27), with Hypothesis.

For each reader, generated malformed inputs (truncations, byte flips, type swaps, NaN/inf,
huge declared sizes, empty containers, wrong nesting) must either be read correctly or raise
the reader's typed error (an :class:`~shared.errors.OutsideFileError`, or the one error class
the reader documents) whose message is one line: never another exception, never a traceback's
worth of text. Example counts are small (``max_examples=25``) so CI stays fast; the example
database (``.hypothesis/``) is kept out of git.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import OutsideFileError
from tests.outside_strategies import JSONISH, SETTINGS, Quiet, mutations, one_line

# -- safe_text -------------------------------------------------------------------------------------


@SETTINGS
@given(st.text())
def test_safe_text_never_lets_a_control_character_through(text):
    import unicodedata

    from shared.outside import safe_text

    shown = safe_text(text)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert not any(unicodedata.category(c) == "Cc" for c in shown)
    if all(c.isprintable() for c in text):
        assert shown == text  # printable text is left alone


# -- JSON side files: BigEarthNet v1 labels ---------------------------------------------------------


@pytest.fixture(scope="module")
def ben_v1(tmp_path_factory):
    from tests.trainer.evaluate.bigearthnet_fixtures import make_bigearthnet_v1
    from trainer.evaluate.readers.bigearthnet import BigEarthNet

    root = tmp_path_factory.mktemp("ben1")
    make_bigearthnet_v1(root, n=4)
    ds = BigEarthNet(root, splits_file=root / "split.json")
    path = ds.folder(0) / f"{ds.names[0]}_labels_metadata.json"
    return Quiet(ds, path, path.read_bytes())


@SETTINGS
@given(doc=JSONISH | st.fixed_dictionaries({"labels": JSONISH}))
def test_bigearthnet_labels_json_of_any_shape(ben_v1, doc):
    from trainer.evaluate.readers.base import DatasetFormatError

    ds, path, _ = ben_v1
    path.write_text(json.dumps(doc, allow_nan=True))
    try:
        labels = ds.labels(np.array([0]))
    except DatasetFormatError as e:
        one_line(e)
    else:
        assert isinstance(doc, dict) and isinstance(doc["labels"], list)
        assert labels.shape == (1, ds.n_classes)


@SETTINGS
@given(st.data())
def test_bigearthnet_labels_file_damaged(ben_v1, data):
    from trainer.evaluate.readers.base import DatasetFormatError

    ds, path, good = ben_v1
    path.write_bytes(data.draw(mutations(good)))
    try:
        ds.labels(np.array([0]))
    except DatasetFormatError as e:
        one_line(e)
    finally:
        path.write_bytes(good)


# -- BigEarthNet v2 metadata.parquet ------------------------------------------------------------------

_LABEL_COLUMNS = st.sampled_from(
    ["lists", "nulls", "strings", "ints", "int-lists", "empty-lists", "all-null"]
)


@SETTINGS
@given(
    kind=_LABEL_COLUMNS,
    split=st.sampled_from(["ok", "unknown", "null", "number"]),
    dup=st.booleans(),
)
def test_bigearthnet_v2_metadata_of_any_column_types(tmp_path_factory, kind, split, dup):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trainer.evaluate.readers.base import DatasetFormatError
    from trainer.evaluate.readers.bigearthnet import BigEarthNet

    root = tmp_path_factory.mktemp("ben2")
    (root / "BigEarthNet-S2").mkdir()
    n = 4
    ids = [f"S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_{i}_1" for i in range(n)]
    if dup:
        ids[1] = ids[0]
    labels = {
        "lists": pa.array([["Marine waters"]] * n, pa.list_(pa.string())),
        "nulls": pa.array([["Marine waters"], None, ["Urban fabric"], None], pa.list_(pa.string())),
        "strings": pa.array(["Marine waters"] * n),
        "ints": pa.array(list(range(n))),
        "int-lists": pa.array([[1, 2]] * n),
        "empty-lists": pa.array([[]] * n, pa.list_(pa.string())),
        "all-null": pa.array([None] * n, pa.null()),
    }[kind]
    splits = {
        "ok": pa.array(["train", "validation", "test", "train"]),
        "unknown": pa.array(["train", "holdout", "test", "train"]),
        "null": pa.array(["train", None, "test", "train"]),
        "number": pa.array([1, 2, 3, 4]),
    }[split]
    pq.write_table(
        pa.table({"patch_id": ids, "labels": labels, "split": splits}), root / "metadata.parquet"
    )
    try:
        ds = BigEarthNet(root)
    except DatasetFormatError as e:
        one_line(e)
    else:
        assert kind in ("lists", "empty-lists") and split == "ok" and not dup
        assert len(ds) == n and isinstance(pd.Series(ds.names), pd.Series)


# -- rasters: GeoTIFF headers and pixels, PNG masks ----------------------------------------------------


@pytest.fixture(scope="module")
def good_tif(tmp_path_factory) -> bytes:
    from tests.trainer.evaluate.fixtures import write_tif

    path = tmp_path_factory.mktemp("tif") / "good.tif"
    write_tif(path, np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16))
    return path.read_bytes()


@SETTINGS
@given(st.data())
def test_geotiff_damaged_is_refused_or_read_whole(tmp_path_factory, good_tif, data):
    from shared.outside import read_raster

    path = tmp_path_factory.mktemp("t") / "x.tif"
    path.write_bytes(data.draw(mutations(good_tif)))
    try:
        values = read_raster(path, [1, 2], bands=2, max_pixels=4096)
    except OutsideFileError as e:
        one_line(e)
    else:
        assert values.shape[0] == 2 and values.size <= 2 * 4096


@SETTINGS
@given(
    width=st.integers(1, 10**6),
    height=st.integers(1, 10**6),
    count=st.integers(0, 500),
    dtype=st.sampled_from(["uint8", "uint16", "int16", "float32", "complex64"]),
)
def test_raster_header_checks_come_before_any_pixel(width, height, count, dtype):
    from shared.errors import TooLargeError
    from shared.outside import check_raster_header

    try:
        check_raster_header(
            "x.tif", width, height, count, dtype, bands=13, dtypes=["uint16"], max_pixels=10**6
        )
    except TooLargeError as e:
        assert width * height > 10**6
        one_line(e)
    except OutsideFileError as e:
        one_line(e)
    else:
        assert width * height <= 10**6 and count == 13 and dtype == "uint16"


def _png(width: int, height: int, body: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@SETTINGS
@given(
    width=st.integers(0, 2**31 - 1),
    height=st.integers(0, 2**31 - 1),
    body=st.binary(max_size=64) | st.just(zlib.compress(b"\x00\x07" * 8)),
)
def test_png_mask_declaring_any_size(tmp_path_factory, width, height, body):
    from shared.outside import open_image_checked

    path = tmp_path_factory.mktemp("p") / "cm.png"
    path.write_bytes(_png(width, height, body))
    try:
        img = open_image_checked(path, max_pixels=10**6)
    except OutsideFileError as e:
        one_line(e)
        return
    with img:
        assert (
            0 < img.size[0] * img.size[1] <= 10**6
        )  # decoding may still fail: that is the reader's
        with contextlib.suppress(OSError, ValueError, SyntaxError):
            img.load()


# -- per-location checks of an import -------------------------------------------------------------------------


@SETTINGS
@given(
    lon=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-1000, 1000),
    lat=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-1000, 1000),
    epsg=st.sampled_from([0, -5, 4326, 32632, 99999, 2**31 - 1, 3857]),
    transform=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=6, max_size=6
    ),
    nat=st.booleans(),
)
def test_a_location_passes_its_checks_only_when_it_can_be_written(lon, lat, epsg, transform, nat):
    from collector.importers.base import BadInputError, ImportedSample, check_sample
    from collector.importers.footprints import footprint
    from shared.layout.georef import pixel_centres

    time = np.array(["2020-01-01", "NaT" if nat else "2020-04-01"], "datetime64[ms]")
    sample = ImportedSample(
        pixels=np.ones((2, 1, 264, 264), np.uint16), cloud=None, clear=np.full(2, np.nan, np.float32),
        time=time, product_id=("a", "b"), lon=lon, lat=lat, epsg=epsg, transform=tuple(transform),
    )  # fmt: skip
    try:
        check_sample(sample, "loc", 2, 1, "metre")
    except BadInputError as e:
        one_line(e)
        return
    assert -180 <= lon <= 180 and -90 <= lat <= 90 and not nat
    pixel_centres(np.asarray(transform), 264)  # what the writer does next: must not raise
    footprint(epsg, np.asarray(transform, np.float64), 264)


# -- split files ----------------------------------------------------------------------------------------------


@SETTINGS
@given(JSONISH | st.fixed_dictionaries({"format": JSONISH, "splits": JSONISH}))
def test_split_file_of_any_shape(tmp_path_factory, doc):
    from trainer.evaluate.splits import SplitFileError, read_split

    path = tmp_path_factory.mktemp("s") / "split.json"
    path.write_text(json.dumps(doc, allow_nan=True))
    try:
        split = read_split(Path(path))
    except SplitFileError as e:
        one_line(e)
    else:
        assert all(isinstance(v, list) for v in split.values())
