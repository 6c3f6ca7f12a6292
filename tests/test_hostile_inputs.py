"""The hostile-input corpus: malformed input to every command must fail cleanly.

Each case runs one command in-process (a few as real subprocesses) against a small world of
existing things (a finished store, a collected store, a training run with its checkpoint) and
must give exactly one line on stderr, the documented non-zero exit code (2 for usage errors, 1
for failed jobs), no traceback, and leave every existing file byte-identical.

Not here: ``collector import`` (added by another branch) and damaged / foreign checkpoints (the
checkpoint-safety tests own those).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from tests.conftest import collect_args, free_port, run_module


@dataclass(frozen=True)
class World:
    root: Path  # everything under it must stay byte-identical
    scratch: Path  # outputs of commands that (wrongly) succeed go here
    store: str  # finished 40-sample store, 48 px, with stats
    collected: str  # a store written by ``collector collect`` (4 locations, 16 px)
    run: str  # a training run folder holding checkpoint.pt
    checkpoint: str
    port: int  # nothing listens there

    def fill(self, text: str) -> str:
        return text.format(**asdict(self))


_RECIPES = {
    "recipe-n-text.toml": '[collect]\nn = "many"\nregion = "europe"\n',
    "recipe-size-float.toml": "[collect]\nn = 4\nsize = 1.5\n",
    "recipe-n-negative.toml": "[collect]\nn = -3\n",
    "recipe-unknown.toml": "[collect]\nn = 4\ncolour = 'blue'\n",
    "recipe-broken.toml": "[collect\nn = 4\n",
    "recipe-region-list.toml": '[collect]\nn = 4\nregion = ["FR", "DE"]\n',
    "recipe-seasons-bool.toml": "[collect]\nn = 4\nseasons = true\n",
    "recipe-source-number.toml": "[collect]\nn = 4\nsource = 7\n",
    "recipe-no-collect.toml": "[recipe]\ntitle = 'x'\n",
}
_CONFIGS = {
    "arch-number.toml": "arch = 5\n",
    "steps-float.toml": "steps = 1.5\n",
    "batch-text.toml": 'batch = "eight"\n',
    "unknown.toml": "colour = 'blue'\n",
    "broken.toml": "steps = \n",
    "list.json": "[1, 2]",
    "lr-text.json": '{"lr": "fast"}',
    "compile-text.toml": 'compile = "yes"\n',
}


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    from collector.cli import main as collector_main
    from shared.access.stats import compute_stats
    from shared.store.handle import open_store
    from shared.testing import make_store
    from trainer.cli import main as trainer_main

    root = tmp_path_factory.mktemp("hostile")
    scratch = tmp_path_factory.mktemp("hostile-scratch")
    store = root / "store.zarr"
    make_store(store, n_samples=40, size=48, shard_samples=8)
    opened = open_store(store, "r+")
    opened.update_attrs(stats=compute_stats(opened))
    collected = root / "collected.zarr"
    argv = ["--source", "synthetic", "--region", "europe", "--n", "4", "--size", "24"]
    assert collector_main(collect_args(collected, *argv, "--shard-samples", "4")) == 0
    run = root / "run"
    train = ["pretrain", "--store", str(store), "--out", str(run), "--arch", "test_resnet"]
    train += ["--size", "32", "--batch", "8", "--queue", "32", "--workers", "0", "--steps", "1"]
    assert trainer_main([*train, "--no-progress"]) == 0
    inputs = root / "inputs"
    (inputs / "a_folder").mkdir(parents=True)
    (inputs / "a_folder.toml").mkdir()
    (inputs / "plain.txt").write_text("not a store\n")
    for name, text in {**_RECIPES, **_CONFIGS}.items():
        (inputs / name).write_text(text)
    return World(
        root=root,
        scratch=scratch,
        store=str(store),
        collected=str(collected),
        run=str(run),
        checkpoint=str(run / "checkpoint.pt"),
        port=free_port(),
    )


# (id, command, arguments, exit code). {placeholders} are filled from the World.
# fmt: off
_PLAN = ("plan", "--out", "{scratch}/plan")
_COLLECT = ("--source", "synthetic", "--region", "europe", "--n", "4", "--size", "24")
_TRAIN = ("--store", "{store}", "--out", "{scratch}/run", "--arch", "resnet18", "--size", "32")
_TRAIN += ("--batch", "8", "--queue", "32", "--workers", "0", "--steps", "1", "--no-progress")
_EVAL = ("evaluate", "--task", "synthetic-landcover", "--data", "{store}", "--encoder")
_EVAL += ("random:resnet18", "--out", "{scratch}/eval", "--size", "32", "--change-steps", "1")
_BIG = "9" * 20


def _collect(*args: str) -> tuple[str, ...]:
    return ("collect", *_COLLECT, *args, "--no-progress")


CASES: list[tuple[str, str, tuple[str, ...], int]] = [
    # collector plan: flags
    ("plan-n-20-digits", "collector", (*_PLAN, "--n", _BIG), 2),
    ("plan-n-zero", "collector", (*_PLAN, "--n", "0"), 2),
    ("plan-n-negative", "collector", (*_PLAN, "--n=-5"), 2),
    ("plan-n-missing", "collector", _PLAN, 2),
    ("plan-n-text", "collector", (*_PLAN, "--n", "lots"), 2),
    ("plan-region-folder", "collector", (*_PLAN, "--n", "4", "--region", "{root}/inputs/a_folder/"), 2),
    ("plan-region-missing-file", "collector", (*_PLAN, "--n", "4", "--region", "{root}/nowhere.geojson"), 2),
    ("plan-region-three-numbers", "collector", (*_PLAN, "--n", "4", "--region", "1,2,3"), 2),
    ("plan-region-unknown", "collector", (*_PLAN, "--n", "4", "--region", "ATLANTIS"), 2),
    ("plan-region-not-vector", "collector", (*_PLAN, "--n", "4", "--region", "{root}/inputs/plain.txt"), 2),
    ("plan-sigma-negative", "collector", (*_PLAN, "--n", "4", "--sigma-km=-1"), 2),
    ("plan-sigma-nan", "collector", (*_PLAN, "--n", "4", "--sigma-km", "nan"), 2),
    ("plan-spares-below-one", "collector", (*_PLAN, "--n", "4", "--spares", "0.5"), 2),
    ("plan-spares-inf", "collector", (*_PLAN, "--n", "4", "--spares", "inf"), 2),
    ("plan-size-zero", "collector", (*_PLAN, "--n", "4", "--size", "0"), 2),
    ("plan-size-huge", "collector", (*_PLAN, "--n", "4", "--size", _BIG), 2),
    ("plan-seasons-zero", "collector", (*_PLAN, "--n", "4", "--seasons", "0"), 2),
    ("plan-offsets-text", "collector", (*_PLAN, "--n", "4", "--offsets-months", "0,3,x"), 2),
    ("plan-window-negative", "collector", (*_PLAN, "--n", "4", "--window-days=-1"), 2),
    ("plan-reference-not-date", "collector", (*_PLAN, "--n", "4", "--reference-start", "soon"), 2),
    ("plan-reference-reversed", "collector", (*_PLAN, "--n", "4", "--reference-start", "2025-01-01", "--reference-end", "2019-01-01"), 2),
    ("plan-cities-zero", "collector", (*_PLAN, "--n", "4", "--cities", "0"), 2),
    ("plan-shard-samples-20-digits", "collector", (*_PLAN, "--n", "4", "--shard-samples", _BIG), 2),
    ("plan-seed-20-digits", "collector", (*_PLAN, "--n", "4", "--seed", _BIG), 2),
    ("plan-weighting-bogus", "collector", (*_PLAN, "--n", "4", "--weighting", "bogus"), 2),
    # collector plan: recipe TOML
    ("recipe-n-text", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-n-text.toml"), 2),
    ("recipe-size-float", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-size-float.toml"), 2),
    ("recipe-n-negative", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-n-negative.toml"), 2),
    ("recipe-unknown-setting", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-unknown.toml"), 2),
    ("recipe-not-toml", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-broken.toml"), 2),
    ("recipe-region-list", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-region-list.toml"), 2),
    ("recipe-seasons-bool", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-seasons-bool.toml"), 2),
    ("recipe-no-collect-table", "collector", (*_PLAN, "--recipe", "{root}/inputs/recipe-no-collect.toml"), 2),
    ("recipe-missing", "collector", (*_PLAN, "--recipe", "no-such-recipe"), 2),
    ("recipe-folder", "collector", (*_PLAN, "--recipe", "{root}/inputs/a_folder.toml"), 2),
    ("collect-recipe-source-number", "collector", ("collect", "--recipe", "{root}/inputs/recipe-source-number.toml", "--out", "{scratch}/r.zarr"), 2),
    # collector collect
    ("collect-scheduler-not-address", "collector", (*_collect("--scheduler", "not an address"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-scheduler-bad-port", "collector", (*_collect("--scheduler", "tcp://127.0.0.1:99999"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-scheduler-bad-scheme", "collector", (*_collect("--scheduler", "ftp://127.0.0.1:8786"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-source-bogus", "collector", ("collect", "--source", "bogus", "--n", "4", "--out", "{scratch}/c.zarr"), 2),
    ("collect-bands-level", "collector", (*_collect("--bands", "l9"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-bands-unknown", "collector", (*_collect("--bands", "l1c:B99"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-clear-threshold", "collector", (*_collect("--clear-threshold", "2"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-granule-cloud", "collector", (*_collect("--granule-cloud-max", "101"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-workers-zero", "collector", (*_collect("--workers", "0"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-workers-20-digits", "collector", (*_collect("--workers", _BIG), "--out", "{scratch}/c.zarr"), 2),
    ("collect-attempts-zero", "collector", (*_collect("--max-attempts", "0"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-backoff-negative", "collector", (*_collect("--backoff=-1"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-source-option-not-json", "collector", (*_collect("--source-option", "{{nope"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-source-option-list", "collector", (*_collect("--source-option", "[1]"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-source-option-unknown", "collector", (*_collect("--source-option", '{{"bogus": 1}}'), "--out", "{scratch}/c.zarr"), 2),
    ("collect-dashboard-not-address", "collector", (*_collect("--dashboard", "everywhere"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-storage-options-list", "collector", (*_collect("--storage-options", "[1]"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-faults-text", "collector", (*_collect("--faults", "latency=soon"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-stac-without-source", "collector", (*_collect("--stac", "https://user:TOPSECRET@stac.example/v1"), "--out", "{scratch}/c.zarr"), 2),
    ("collect-truth-not-synthetic", "collector", ("collect", "--source", "stac", "--truth", "--n", "4", "--out", "{scratch}/c.zarr"), 2),
    ("collect-out-is-file", "collector", (*_collect(), "--out", "{root}/inputs/plain.txt"), 2),
    ("collect-out-not-a-store", "collector", (*_collect(), "--out", "{root}/inputs"), 2),
    ("collect-existing-other-seed", "collector", (*_collect("--seed", "7", "--shard-samples", "4", "--scheduler", "threads"), "--out", "{collected}"), 2),
    ("collect-object-store-unreachable", "collector", (*_collect("--scheduler", "threads", "--storage-options", '{{"key": "a", "secret": "b", "client_kwargs": {{"endpoint_url": "http://127.0.0.1:{port}"}}}}'), "--out", "s3://bucket/x.zarr"), 1),
    # shared
    ("info-missing", "shared", ("info", "{root}/missing.zarr"), 2),
    ("info-file", "shared", ("info", "{root}/inputs/plain.txt"), 2),
    ("verify-folder", "shared", ("verify", "{root}/inputs/a_folder"), 2),
    ("verify-no-argument", "shared", ("verify",), 2),
    ("card-missing", "shared", ("card", "{root}/missing.zarr"), 2),
    ("card-checkpoint", "shared", ("card", "{checkpoint}"), 2),
    ("geotiff-samples-comma", "shared", ("export-geotiff", "{store}", "--samples", ",", "--out", "{scratch}/tif"), 2),
    ("geotiff-samples-text", "shared", ("export-geotiff", "{store}", "--samples", "a,b", "--out", "{scratch}/tif"), 2),
    ("geotiff-samples-out-of-range", "shared", ("export-geotiff", "{store}", "--samples", "999", "--out", "{scratch}/tif"), 2),
    ("geotiff-samples-negative", "shared", ("export-geotiff", "{store}", "--samples=-1", "--out", "{scratch}/tif"), 2),
    ("geotiff-samples-20-digits", "shared", ("export-geotiff", "{store}", "--samples", _BIG, "--out", "{scratch}/tif"), 2),
    ("geotiff-out-is-file", "shared", ("export-geotiff", "{store}", "--samples", "0", "--out", "{root}/inputs/plain.txt"), 2),
    # trainer pretrain: flags
    ("pretrain-device-tpu9", "trainer", ("pretrain", *_TRAIN, "--device", "tpu9"), 2),
    ("pretrain-device-cuda99", "trainer", ("pretrain", *_TRAIN, "--device", "cuda:99"), 2),
    ("pretrain-size-above-patch", "trainer", ("pretrain", *_TRAIN, "--size", "64"), 2),
    ("pretrain-size-20-digits", "trainer", ("pretrain", *_TRAIN, "--size", _BIG), 2),
    ("pretrain-batch-above-dataset", "trainer", ("pretrain", *_TRAIN, "--batch", "64"), 2),
    ("pretrain-steps-20-digits", "trainer", ("pretrain", *_TRAIN, "--steps", _BIG), 2),
    ("pretrain-lr-nan", "trainer", ("pretrain", *_TRAIN, "--lr", "nan"), 2),
    ("pretrain-lr-negative", "trainer", ("pretrain", *_TRAIN, "--lr=-0.1"), 2),
    ("pretrain-epochs-inf", "trainer", ("pretrain", *_TRAIN[:-3], "--epochs", "inf", "--no-progress"), 2),
    ("pretrain-queue-zero", "trainer", ("pretrain", *_TRAIN, "--queue", "0"), 2),
    ("pretrain-schedule-bogus", "trainer", ("pretrain", *_TRAIN, "--schedule", "bogus"), 2),
    ("pretrain-objective-bogus", "trainer", ("pretrain", *_TRAIN, "--objective", "bogus"), 2),
    ("pretrain-arch-unknown", "trainer", ("pretrain", *_TRAIN, "--arch", "resnet9000"), 2),
    ("pretrain-bands-unknown", "trainer", ("pretrain", *_TRAIN, "--bands", "B99"), 2),
    ("pretrain-store-missing", "trainer", ("pretrain", *_TRAIN, "--store", "{root}/missing.zarr"), 2),
    ("pretrain-store-folder", "trainer", ("pretrain", *_TRAIN, "--store", "{root}/inputs/a_folder"), 2),
    ("pretrain-out-is-file", "trainer", ("pretrain", *_TRAIN, "--out", "{root}/inputs/plain.txt"), 2),
    ("pretrain-resume-other-settings", "trainer", ("pretrain", *_TRAIN, "--out", "{run}", "--seed", "5"), 1),
    # trainer pretrain: run config files
    ("config-arch-number", "trainer", ("pretrain", "--config", "{root}/inputs/arch-number.toml", *_TRAIN), 2),
    ("config-steps-float", "trainer", ("pretrain", *_TRAIN[:-3], "--config", "{root}/inputs/steps-float.toml", "--no-progress"), 2),
    ("config-batch-text", "trainer", ("pretrain", *_TRAIN[:-5], "--steps", "1", "--config", "{root}/inputs/batch-text.toml", "--no-progress"), 2),
    ("config-unknown-key", "trainer", ("pretrain", "--config", "{root}/inputs/unknown.toml", *_TRAIN), 2),
    ("config-broken-toml", "trainer", ("pretrain", "--config", "{root}/inputs/broken.toml", *_TRAIN), 2),
    ("config-json-list", "trainer", ("pretrain", "--config", "{root}/inputs/list.json", *_TRAIN), 2),
    ("config-lr-text", "trainer", ("pretrain", "--config", "{root}/inputs/lr-text.json", *_TRAIN), 2),
    ("config-compile-text", "trainer", ("pretrain", "--config", "{root}/inputs/compile-text.toml", *_TRAIN), 2),
    ("config-missing", "trainer", ("pretrain", "--config", "{root}/inputs/none.toml", *_TRAIN), 2),
    ("config-folder", "trainer", ("pretrain", "--config", "{root}/inputs/a_folder", *_TRAIN), 2),
    # trainer evaluate / export / bench
    ("evaluate-protocols-bogus", "trainer", (*_EVAL, "--protocols", "bogus"), 2),
    ("evaluate-protocols-empty", "trainer", (*_EVAL, "--protocols", ","), 2),
    ("evaluate-size-above-patch", "trainer", (*_EVAL, "--size", "4096"), 2),
    ("evaluate-size-20-digits", "trainer", (*_EVAL, "--size", _BIG), 2),
    ("evaluate-device-tpu9", "trainer", (*_EVAL, "--device", "tpu9"), 2),
    ("evaluate-device-cuda99", "trainer", (*_EVAL, "--device", "cuda:99"), 2),
    ("evaluate-encoder-missing", "trainer", (*_EVAL, "--encoder", "{root}/missing.pt"), 2),
    ("evaluate-encoder-unknown-arch", "trainer", (*_EVAL[:-7], "random:resnet9000", *_EVAL[-6:]), 2),
    ("evaluate-data-missing", "trainer", ("evaluate", "--task", "synthetic-landcover", "--data", "{root}/missing.zarr", "--encoder", "random:resnet18", "--out", "{scratch}/eval"), 2),
    ("evaluate-change-steps-zero", "trainer", (*_EVAL, "--change-steps", "0"), 2),
    ("evaluate-bands-unknown", "trainer", (*_EVAL, "--bands", "B99"), 2),
    ("export-missing", "trainer", ("export", "{root}/missing.pt", "--out", "{scratch}/export"), 2),
    ("export-store-as-checkpoint", "trainer", ("export", "{store}", "--out", "{scratch}/export"), 2),
    ("export-out-is-file", "trainer", ("export", "{checkpoint}", "--out", "{root}/inputs/plain.txt"), 2),
    ("bench-size-above-patch", "tools.trainer_bench", ("--store", "{store}", "--size", "4096", "--steps", "1", "--batch", "2"), 2),
    ("bench-store-missing", "tools.trainer_bench", ("--store", "{root}/missing.zarr"), 2),
]
# fmt: on

_MAINS = {
    "collector": "collector.cli",
    "shared": "shared.cli",
    "trainer": "trainer.cli",
    "tools.trainer_bench": "tools.trainer_bench",
}


def _check_clean(code: int, err: str, expected: int, digest_before, world: World) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    assert code == expected, f"exit {code}, expected {expected}: {lines[0]}"
    assert _tree_digest(world.root) == digest_before, "an existing file changed"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_refused_cleanly(case, world, capsys, monkeypatch):
    import importlib

    _id, command, args, expected = case
    monkeypatch.chdir(world.scratch)
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    before = _tree_digest(world.root)
    capsys.readouterr()
    main = importlib.import_module(_MAINS[command]).main
    code = main([world.fill(a) for a in args])
    captured = capsys.readouterr()
    _check_clean(code, captured.err, expected, before, world)
    assert "TOPSECRET" not in captured.out + captured.err


_SUBPROCESS_CASES = [
    ("collector", ("plan", "--n", _BIG, "--out", "{scratch}/plan"), 2),
    ("collector", (*_collect("--scheduler", "tcp://nowhere"), "--out", "{scratch}/c.zarr"), 2),
    ("shared", ("export-geotiff", "{store}", "--samples", ",", "--out", "{scratch}/tif"), 2),
]


@pytest.mark.parametrize("command,args,expected", _SUBPROCESS_CASES, ids=lambda v: str(v)[:20])
def test_hostile_input_in_a_real_process(command, args, expected, world):
    before = _tree_digest(world.root)
    proc = run_module(command, *(world.fill(a) for a in args), timeout=120)
    _check_clean(proc.returncode, proc.stderr, expected, before, world)


def test_corpus_is_large_enough():
    assert len(CASES) + len(_SUBPROCESS_CASES) >= 50
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} == set(_MAINS)
    assert json.dumps(CASES)  # plain data, so the corpus can be listed and counted
