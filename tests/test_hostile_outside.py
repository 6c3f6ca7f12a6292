"""The hostile-input corpus, part 2: files from outside (issue 27).

Published pre-training datasets (``collector import``), downstream datasets (``trainer
evaluate``), foreign weights and exports, edited store attributes and damaged side files, and
folders a command must not write into. Each malformed input must give one line on stderr
starting ``error:``, the stated non-zero exit code, no traceback, and leave every existing file
byte-identical (the inputs live under the world's root, which is digested before and after).

The inputs are built once per session by ``tests/outside_builders.py`` (one builder per input
name) from the small functions of ``tests/outside_inputs.py``.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest

from tests.outside_builders import BUILDERS, FOLDERS
from tests.outside_inputs import store_attrs
from tests.test_hostile_inputs import World, _check_clean, _tree_digest, world  # noqa: F401

_BIG = "9" * 20


def _imp(fmt: str, name: str, *extra: str) -> tuple[str, ...]:
    out = f"{{scratch}}/imp-{name}.zarr"
    flags = ("--scheduler", "threads", "--workers", "1", "--shard-samples", "2", "--no-progress")
    return ("import", fmt, f"{{o}}/{name}", "--out", out, *flags, *extra)


def _ev(task: str, data: str, *extra: str, encoder: str = "random:resnet18") -> tuple[str, ...]:
    out = "{scratch}/ev-" + data.replace("/", "_").replace("{", "").replace("}", "")
    return (
        "evaluate", "--task", task, "--data", data, "--encoder", encoder, "--out", out,
        "--size", "16", "--bootstrap", "5", "--change-steps", "1", *extra,
    )  # fmt: skip


def _eurosat(name: str, *extra: str) -> tuple[str, ...]:
    return _ev("eurosat", f"{{o}}/{name}", *extra)


def _oscd(name: str, *extra: str) -> tuple[str, ...]:
    return _ev("oscd", f"{{o}}/{name}", *extra)


def _ben(name: str, *extra: str) -> tuple[str, ...]:
    return _ev("bigearthnet", f"{{o}}/{name}", *extra)


def _weights(encoder: str) -> tuple[str, ...]:
    return _ev("eurosat", "{base}/eurosat", encoder=encoder)


# (id, command, arguments, exit code); {o}: the hostile inputs, {base}: good originals
# fmt: off
CASES: list[tuple[str, str, tuple[str, ...], int]] = [
    # collector import: datasets none of whose locations can be imported, bad settings
    ("import-seco-no-scene-name-parses", "collector", _imp("seco", "seco-names-unparsed"), 2),
    ("import-seco-scene-dates-invalid", "collector", _imp("seco", "seco-names-bad-date"), 2),
    ("import-seco-band-truncated", "collector", _imp("seco", "seco-band-truncated"), 2),
    ("import-seco-band-text", "collector", _imp("seco", "seco-band-text"), 2),
    ("import-seco-band-missing", "collector", _imp("seco", "seco-band-missing"), 2),
    ("import-seco-sparse-tiff-100000px", "collector", _imp("seco", "seco-band-sparse-100000"), 2),
    ("import-seco-band-uint16", "collector", _imp("seco", "seco-band-uint16"), 2),
    ("import-seco-band-three-bands", "collector", _imp("seco", "seco-band-three-bands"), 2),
    ("import-seco-scene-missing", "collector", _imp("seco", "seco-scene-missing"), 2),
    ("import-seco-lat-400", "collector", _imp("seco", "seco-lat-400"), 2),
    ("import-seco-no-crs", "collector", _imp("seco", "seco-no-crs"), 2),
    ("import-seco-no-location-folders", "collector", _imp("seco", "seco-no-locations"), 2),
    ("import-seco-as-ssl4eo", "collector", _imp("ssl4eo-s12", "seco-band-text"), 2),
    ("import-zarr-zero-samples", "collector", _imp("ssl4eo-s12-zarr", "zarr-zero-samples"), 2),
    ("import-zarr-center-lon-nan", "collector", _imp("ssl4eo-s12-zarr", "zarr-lon-nan"), 2),
    ("import-zarr-lon-700", "collector", _imp("ssl4eo-s12-zarr", "zarr-lon-700"), 2),
    ("import-zarr-lat-400", "collector", _imp("ssl4eo-s12-zarr", "zarr-lat-400"), 2),
    ("import-zarr-crs-99999", "collector", _imp("ssl4eo-s12-zarr", "zarr-crs-99999"), 2),
    ("import-zarr-crs-negative", "collector", _imp("ssl4eo-s12-zarr", "zarr-crs-negative"), 2),
    ("import-zarr-crs-in-degrees", "collector", _imp("ssl4eo-s12-zarr", "zarr-crs-degrees"), 2),
    ("import-zarr-no-center-lon", "collector", _imp("ssl4eo-s12-zarr", "zarr-no-center-lon"), 2),
    ("import-zarr-five-bands", "collector", _imp("ssl4eo-s12-zarr", "zarr-five-bands"), 2),
    ("import-zarr-x-short", "collector", _imp("ssl4eo-s12-zarr", "zarr-x-short"), 2),
    ("import-zarr-time-nat", "collector", _imp("ssl4eo-s12-zarr", "zarr-time-nat"), 2),
    ("import-zarr-x-nan", "collector", _imp("ssl4eo-s12-zarr", "zarr-x-nan"), 2),
    ("import-zarr-not-a-zip", "collector", _imp("ssl4eo-s12-zarr", "zarr-not-a-zip"), 2),
    ("import-out-existing-store", "collector", ("import", "seco", "{base}/seco", "--out", "{store}", "--scheduler", "threads", "--no-progress"), 2),
    ("import-out-foreign-folder", "collector", ("import", "seco", "{base}/seco", "--out", "{o}/out-foreign", "--scheduler", "threads", "--no-progress"), 2),
    ("import-level-bogus", "collector", _imp("seco", "seco-band-text", "--level", "l9"), 2),
    # trainer evaluate: EuroSAT
    ("eurosat-one-class", "trainer", _eurosat("eurosat-one-class"), 1),
    ("eurosat-tif-text", "trainer", _eurosat("eurosat-tif-text"), 2),
    ("eurosat-tif-truncated", "trainer", _eurosat("eurosat-tif-truncated"), 2),
    ("eurosat-three-bands", "trainer", _eurosat("eurosat-three-bands"), 2),
    ("eurosat-huge-header", "trainer", _eurosat("eurosat-huge-header"), 2),
    ("eurosat-split-lists-partial", "trainer", _eurosat("eurosat-split-partial"), 2),
    ("eurosat-no-class-folders", "trainer", _eurosat("eurosat-empty"), 2),
    # trainer evaluate: OSCD
    ("oscd-cm-png-bomb-20000px", "trainer", _oscd("oscd-cm-bomb"), 2),
    ("oscd-cm-png-text", "trainer", _oscd("oscd-cm-text"), 2),
    ("oscd-cm-png-truncated", "trainer", _oscd("oscd-cm-truncated"), 2),
    ("oscd-cm-png-wrong-size", "trainer", _oscd("oscd-cm-size"), 2),
    ("oscd-band-text", "trainer", _oscd("oscd-band-text"), 2),
    ("oscd-band-sizes-differ", "trainer", _oscd("oscd-band-sizes"), 2),
    ("oscd-train-txt-unknown-city", "trainer", _oscd("oscd-train-unknown-city"), 2),
    ("oscd-city-in-train-and-test", "trainer", _oscd("oscd-city-both"), 2),
    ("oscd-no-train-city", "trainer", _oscd("oscd-no-train"), 2),
    ("oscd-train-txt-binary", "trainer", _oscd("oscd-train-txt-binary"), 2),
    ("oscd-dates-txt-binary", "trainer", _oscd("oscd-dates-binary"), 2),
    ("eurosat-split-lists-binary", "trainer", _eurosat("eurosat-split-binary"), 2),
    ("ben1-train-csv-binary", "trainer", _ben("ben1-train-csv-binary"), 2),
    ("import-zarr-samples-declared-huge", "collector", _imp("ssl4eo-s12-zarr", "zarr-huge-samples"), 2),
    ("oscd-val-cities-too-many", "trainer", _ev("oscd", "{base}/oscd", "--val-cities", "9"), 1),
    # trainer evaluate: BigEarthNet
    ("ben1-labels-json-is-list", "trainer", _ben("ben1-labels-list"), 2),
    ("ben1-labels-json-no-key", "trainer", _ben("ben1-labels-no-key"), 2),
    ("ben1-labels-numbers", "trainer", _ben("ben1-labels-numbers"), 2),
    ("ben1-labels-string", "trainer", _ben("ben1-labels-string"), 2),
    ("ben1-labels-unknown-class", "trainer", _ben("ben1-labels-unknown"), 2),
    ("ben1-labels-not-json", "trainer", _ben("ben1-labels-not-json"), 2),
    ("ben1-labels-nan", "trainer", _ben("ben1-labels-nan"), 2),
    ("ben1-labels-binary", "trainer", _ben("ben1-labels-binary"), 2),
    ("ben1-train-csv-unknown-patch", "trainer", _ben("ben1-train-csv-unknown"), 2),
    ("ben1-band-text", "trainer", _ben("ben1-band-text"), 2),
    ("ben1-band-60000px", "trainer", _ben("ben1-band-huge"), 2),
    ("ben1-stored-split-missing-patch", "trainer", ("evaluate", "--task", "bigearthnet", "--data", "{o}/ben1-stored-split-missing", "--encoder", "random:resnet18", "--out", "{o}/out-stale-split", "--size", "16"), 2),
    ("ben2-null-labels", "trainer", _ben("ben2-null-labels"), 2),
    ("ben2-labels-string", "trainer", _ben("ben2-labels-string"), 2),
    ("ben2-labels-numbers", "trainer", _ben("ben2-labels-numbers"), 2),
    ("ben2-null-patch-id", "trainer", _ben("ben2-null-patch-id"), 2),
    ("ben2-split-unknown", "trainer", _ben("ben2-split-unknown"), 2),
    ("ben2-split-number", "trainer", _ben("ben2-split-number"), 2),
    ("ben2-duplicate-patch-id", "trainer", _ben("ben2-duplicate-id"), 2),
    ("ben2-no-labels-column", "trainer", _ben("ben2-no-labels-column"), 2),
    ("ben2-parquet-garbage", "trainer", _ben("ben2-parquet-garbage"), 2),
    ("ben-knn-only-on-multilabel", "trainer", _ev("bigearthnet", "{base}/ben2", "--protocols", "knn"), 2),
    ("ben2-43-classes", "trainer", _ev("bigearthnet", "{base}/ben2", "--bigearthnet-classes", "43"), 2),
    # trainer evaluate: numbers and the output folder
    ("evaluate-bootstrap-negative", "trainer", _ev("eurosat", "{base}/eurosat", "--bootstrap=-5"), 2),
    ("evaluate-bootstrap-20-digits", "trainer", _ev("eurosat", "{base}/eurosat", "--bootstrap", _BIG), 2),
    ("evaluate-epochs-zero", "trainer", _ev("eurosat", "{base}/eurosat", "--setting", "paper", "--epochs", "0"), 2),
    ("evaluate-out-is-store", "trainer", ("evaluate", "--task", "eurosat", "--data", "{base}/eurosat", "--encoder", "random:resnet18", "--out", "{store}", "--size", "16"), 2),
    ("evaluate-out-foreign-folder", "trainer", ("evaluate", "--task", "eurosat", "--data", "{base}/eurosat", "--encoder", "random:resnet18", "--out", "{o}/out-foreign", "--size", "16"), 2),
    ("evaluate-out-results-binary", "trainer", ("evaluate", "--task", "eurosat", "--data", "{base}/eurosat", "--encoder", "random:resnet18", "--out", "{o}/out-results-garbage", "--size", "16"), 2),
    ("evaluate-out-results-other-table", "trainer", ("evaluate", "--task", "eurosat", "--data", "{base}/eurosat", "--encoder", "random:resnet18", "--out", "{o}/out-results-other-table", "--size", "16"), 2),
    ("paper-table-size-zero", "paper_table", ("--data-root", "{base}", "--encoder", "random:resnet18", "--out", "{scratch}/pt", "--size", "0"), 2),
    ("paper-table-bootstrap-negative", "paper_table", ("--data-root", "{base}", "--encoder", "random:resnet18", "--out", "{scratch}/pt", "--bootstrap=-1"), 2),
    ("paper-table-epochs-zero", "paper_table", ("--data-root", "{base}", "--encoder", "random:resnet18", "--out", "{scratch}/pt", "--epochs", "0"), 2),
    # weights: imagenet: files, state dicts, exports
    ("imagenet-nothing-after-equals", "trainer", _weights("imagenet:resnet18="), 1),
    ("imagenet-file-holds-list", "trainer", _weights("imagenet:resnet18={o}/weights-list/weights.pt"), 1),
    ("imagenet-file-holds-strings", "trainer", _weights("imagenet:resnet18={o}/weights-strings/weights.pt"), 1),
    ("imagenet-file-empty-dict", "trainer", _weights("imagenet:resnet18={o}/weights-empty-dict/weights.pt"), 1),
    ("imagenet-file-holds-number", "trainer", _weights("imagenet:resnet18={o}/weights-number/weights.pt"), 1),
    ("imagenet-file-text", "trainer", _weights("imagenet:resnet18={o}/weights-text/weights.pt"), 1),
    ("imagenet-file-missing", "trainer", _weights("imagenet:resnet18={o}/nowhere.pt"), 2),
    ("encoder-weights-list", "trainer", _weights("{o}/weights-list/weights.pt"), 1),
    ("encoder-safetensors-text", "trainer", _weights("{o}/weights-safetensors-text/w.safetensors"), 1),
    ("export-config-scaling-string", "trainer", _weights("{o}/export-scaling-string"), 2),
    ("export-config-architecture-number", "trainer", _weights("{o}/export-architecture-number"), 2),
    ("export-config-architecture-unknown", "trainer", _weights("{o}/export-architecture-unknown"), 2),
    ("export-config-in-chans-text", "trainer", _weights("{o}/export-in-chans-text"), 2),
    ("export-config-scaling-short", "trainer", _weights("{o}/export-scaling-short"), 2),
    ("export-config-scaling-nan", "trainer", _weights("{o}/export-scaling-nan"), 2),
    ("export-config-is-list", "trainer", _weights("{o}/export-config-list"), 2),
    ("export-config-broken-json", "trainer", _weights("{o}/export-config-broken"), 2),
    ("export-config-no-scaling", "trainer", _weights("{o}/export-no-scaling"), 1),
    ("export-safetensors-text", "trainer", _weights("{o}/export-weights-text"), 2),
    ("export-safetensors-text-sha-recorded", "trainer", _weights("{o}/export-weights-text-sha"), 1),
    ("export-safetensors-header-huge", "trainer", _weights("{o}/export-weights-header-huge"), 2),
    ("export-out-existing-store", "trainer", ("export", "{checkpoint}", "--out", "{store}"), 2),
    ("export-out-foreign-config", "trainer", ("export", "{checkpoint}", "--out", "{o}/out-foreign-config"), 2),
    ("export-out-export-and-more", "trainer", ("export", "{checkpoint}", "--out", "{o}/out-export-and-more"), 2),
    ("export-out-foreign-folder", "trainer", ("export", "{checkpoint}", "--out", "{o}/out-foreign"), 2),
    # store attributes and side files: info, card, pretrain
    ("info-stats-string", "shared", ("info", "{o}/store-stats-string"), 2),
    ("info-imported-from-string", "shared", ("info", "{o}/store-imported-from-string"), 2),
    ("info-imported-from-list", "shared", ("info", "{o}/store-imported-from-list"), 2),
    ("info-title-number", "shared", ("info", "{o}/store-title-number"), 2),
    ("info-lon-chunk-corrupted", "shared", ("info", "{o}/store-lon-chunk"), 2),
    ("card-recipe-list", "shared", ("card", "{o}/store-recipe-list"), 2),
    ("card-recipe-title-number", "shared", ("card", "{o}/store-recipe-title-number"), 2),
    ("card-config-list", "shared", ("card", "{o}/store-config-list"), 2),
    ("card-plan-cities-string", "shared", ("card", "{o}/store-plan-cities-string"), 2),
    ("card-plan-string", "shared", ("card", "{o}/store-plan-string"), 2),
    ("card-stats-short", "shared", ("card", "{o}/store-stats-short"), 2),
    ("card-report-json-garbage", "shared", ("card", "{o}/store-report-garbage"), 2),
    ("card-report-counts-text", "shared", ("card", "{o}/store-report-counts-text"), 2),
    ("card-imported-from-string", "shared", ("card", "{o}/store-imported-from-string"), 2),
    ("pretrain-stats-string", "trainer", ("pretrain", "--store", "{o}/store-stats-string", "--out", "{scratch}/run-a", "--arch", "test_resnet", "--size", "16", "--batch", "4", "--queue", "8", "--workers", "0", "--steps", "1", "--no-progress"), 2),
    ("pretrain-stats-short-mean", "trainer", ("pretrain", "--store", "{o}/store-stats-short", "--out", "{scratch}/run-b", "--arch", "test_resnet", "--size", "16", "--batch", "4", "--queue", "8", "--workers", "0", "--steps", "1", "--no-progress"), 2),
    ("pretrain-stats-std-text", "trainer", ("pretrain", "--store", "{o}/store-stats-text-number", "--out", "{scratch}/run-c", "--arch", "test_resnet", "--size", "16", "--batch", "4", "--queue", "8", "--workers", "0", "--steps", "1", "--no-progress"), 2),
    ("pretrain-stats-bands-number", "trainer", ("pretrain", "--store", "{o}/store-stats-bands-number", "--out", "{scratch}/run-d", "--arch", "test_resnet", "--size", "16", "--batch", "4", "--queue", "8", "--workers", "0", "--steps", "1", "--no-progress"), 2),
    ("pretrain-config-list", "trainer", ("pretrain", "--store", "{o}/store-config-list", "--out", "{scratch}/run-e", "--arch", "test_resnet", "--size", "16", "--batch", "4", "--queue", "8", "--workers", "0", "--steps", "1", "--no-progress"), 2),
]
# fmt: on

_MAINS = {
    "collector": "collector.cli",
    "shared": "shared.cli",
    "trainer": "trainer.cli",
    "paper_table": "trainer.evaluate.paper_table",
}


@pytest.fixture(scope="session")
def outside(world: World, tmp_path_factory) -> dict[str, Path]:  # noqa: F811
    """Good originals under ``root/base`` and every hostile input under ``root/outside``."""
    from collector.importers.testing import write_geotiff_dataset, write_zarr_dataset
    from shared.access.stats import compute_stats
    from shared.store.handle import open_store
    from shared.testing import make_store
    from tests.trainer.evaluate.bigearthnet_fixtures import make_bigearthnet_v2
    from tests.trainer.evaluate.fixtures import make_eurosat, make_oscd
    from trainer.cli import main as trainer_main

    base = world.root / "base"
    base.mkdir()
    originals = {
        "seco": write_geotiff_dataset(base / "seco", "seco", 2),
        "zarr": write_zarr_dataset(base / "zarr", (2,)),
        "eurosat": make_eurosat(base / "eurosat", per_class=3, classes=2, size=16),
        "oscd": make_oscd(base / "oscd", size=(24, 20)),
        "export": base / "export",
        "store": base / "small.zarr",
    }
    make_bigearthnet_v2(base / "ben2", n=8)
    originals["ben2"] = base / "ben2"
    assert trainer_main(["export", world.checkpoint, "--out", str(originals["export"])]) == 0
    make_store(originals["store"], n_samples=8, size=24, shard_samples=4)
    small = open_store(originals["store"], "r+")
    small.update_attrs(stats=compute_stats(small))
    root = world.root / "outside"
    root.mkdir()
    for name, build in BUILDERS.items():
        build(root / name, originals)
    # a stored split (evaluate's own file in --out) naming a patch that no longer exists
    stale = root / "out-stale-split" / "splits"
    stale.mkdir(parents=True)
    (stale / "bigearthnet.json").write_text(
        json.dumps({"train": ["S2A_gone_1_1"], "val": [], "test": []})
    )
    return {"root": root, "base": base}


def _fill(text: str, w: World, outside: dict[str, Path]) -> str:
    return w.fill(text.replace("{o}", str(outside["root"])).replace("{base}", str(outside["base"])))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_outside_file_is_refused_cleanly(case, world, outside, capsys, monkeypatch):  # noqa: F811
    _id, command, args, expected = case
    monkeypatch.chdir(world.scratch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # imagenet: never reaches the network here
    before = _tree_digest(world.root)
    capsys.readouterr()
    main = importlib.import_module(_MAINS[command]).main
    code = main([_fill(a, world, outside) for a in args])
    captured = capsys.readouterr()
    _check_clean(code, captured.err, expected, before, world)


def test_outside_corpus_is_large_enough():
    assert len(CASES) >= 80
    assert len({c[0] for c in CASES}) == len(CASES)
    named = {
        part.split("/")[1] for c in CASES for a in c[2] for part in [a] if a.startswith("{o}/")
    }
    assert named <= FOLDERS | {"out-stale-split", "nowhere.pt"}
    assert all(math.isfinite(c[3]) and c[3] in (1, 2) for c in CASES)


def test_metadata_is_printed_escaped(world, outside, capsys):  # noqa: F811
    """Terminal escapes, carriage returns and bidi overrides in attributes come out escaped in
    ``info`` and in the card; nothing reaches the terminal raw."""
    import shutil

    from shared.cli import main as shared_main

    hostile = "\x1b]0;pwned\x07\x1b[2J\rTitle\u202egnp.exe"
    store = world.scratch / "escapes.zarr"
    shutil.rmtree(store, ignore_errors=True)
    store_attrs(
        title=hostile, synthetic=False, imported_from={"dataset": hostile, "format": "seco"}
    )(store, {"store": outside["base"] / "small.zarr"})
    assert shared_main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert "\\x1b]0;pwned\\x07" in out and "\\u202e" in out
    assert shared_main(["card", str(store)]) == 0
    card = (store / "card.md").read_text()
    assert "\x1b" not in card and "\x07" not in card and "\\x1b[2J" in card


def test_an_error_message_never_carries_raw_control_characters():
    from shared.cli import one_line

    assert one_line(ValueError("bad \x1b[31mred\x1b[0m\tname")) == "bad \\x1b[31mred\\x1b[0m\\tname"


def test_open_sample_refuses_a_float_index(outside):
    from shared.access.sample import open_sample

    store = str(outside["base"] / "small.zarr")
    assert open_sample(store, 1).sizes["season"] > 0
    with pytest.raises(TypeError, match="integer index, got 1.7"):
        open_sample(store, 1.7)
    with pytest.raises(TypeError):
        open_sample(store, True)
    with pytest.raises(IndexError):
        open_sample(store, 0, seasons=[99])


def test_oscd_with_three_train_cities_takes_two_for_validation(tmp_path):
    """The default of 3 validation cities shrinks to what the train cities allow; an explicit
    --val-cities is still checked."""
    from tests.trainer.evaluate.fixtures import make_oscd
    from trainer.evaluate.readers.oscd import OSCD

    root = make_oscd(tmp_path / "o", cities=tuple("abcd"), train=("a", "b", "c"), test=("d",))
    ds = OSCD(root, splits_file=tmp_path / "split.json")
    assert ds.indices("val").size == 2 and ds.indices("train").size == 1
    with pytest.raises(ValueError, match="val_cities=3"):
        OSCD(root, splits_file=tmp_path / "other.json", val_cities=3)
