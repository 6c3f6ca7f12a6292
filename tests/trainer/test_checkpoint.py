"""Checkpoints are never trusted blindly: damage, foreign files, other architectures and
non-finite weights are refused on resume, export and evaluate; a non-finite loss stops the run
before anything is overwritten; log.csv holds each step once however often a run resumes."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest
import torch

import trainer.loop
from tests.trainer.conftest import tiny_args, tiny_config
from trainer.checkpoint import PREVIOUS, CheckpointError, load_checkpoint, save_checkpoint
from trainer.cli import main
from trainer.config import PretrainConfig

STEPS = ["--steps", "4", "--checkpoint-every", "2", "--log-every", "1"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished_run(train_store, tmp_path_factory):
    """A 4-step run checkpointed at steps 2 and 4: ``(run folder, its CLI arguments)``."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    args = tiny_args(train_store, out, *STEPS)
    assert main(args) == 0
    return out, args


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(8):
        data[mid + i] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _foreign(path: Path) -> None:
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)  # a plain state dict


def _other_arch(path: Path) -> None:
    state = load_checkpoint(path)
    state["config"]["arch"] = "resnet34"
    save_checkpoint(path, state)


def _nan_weights(path: Path) -> None:
    state = load_checkpoint(path)
    state["model"]["encoder.backbone.conv1.weight"][0, 0, 0, 0] = float("nan")
    save_checkpoint(path, state)


DAMAGE = {
    "flipped": (_flip, "damaged"),
    "truncated": (_truncate, "damaged"),
    "foreign": (_foreign, "not a checkpoint of this trainer"),
    "other-arch": (_other_arch, "do not fit resnet34"),
    "nan-weights": (_nan_weights, "non-finite weights"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_bad_checkpoint_is_refused_by_export_and_evaluate(
    finished_run, train_store, tmp_path, capsys, kind
):
    damage, message = DAMAGE[kind]
    if kind == "foreign":  # export and evaluate take state dicts of other kinds too
        message = "cannot tell the architecture"
    bad = tmp_path / "checkpoint.pt"
    shutil.copyfile(finished_run[0] / "checkpoint.pt", bad)
    damage(bad)
    before = _sha(bad)
    capsys.readouterr()
    assert main(["export", str(bad), "--out", str(tmp_path / "export")]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "export" / "model.safetensors").exists()
    evaluate = ["evaluate", "--task", "synthetic-landcover", "--data", train_store, "--size", "32"]
    assert main([*evaluate, "--encoder", str(bad), "--out", str(tmp_path / "eval")]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert _sha(bad) == before


@pytest.mark.parametrize("kind", ["flipped", "truncated", "foreign"])
def test_damaged_checkpoint_is_refused_on_resume(finished_run, tmp_path, capsys, kind):
    src, args = finished_run
    run = tmp_path / "run"
    shutil.copytree(src, run)
    damage, message = DAMAGE[kind]
    damage(run / "checkpoint.pt")
    before = _sha(run / "checkpoint.pt")
    capsys.readouterr()
    assert main([*args[: args.index("--out") + 1], str(run), *args[args.index("--out") + 2 :]]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert f"{PREVIOUS} (step 2) is intact" in err
    assert _sha(run / "checkpoint.pt") == before


def test_previous_checkpoint_is_kept_whole(finished_run):
    out, _ = finished_run
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 4
    assert load_checkpoint(out / PREVIOUS)["step"] == 2
    assert not list(out.glob("*.tmp"))


def _cfg(store: str, out: Path, steps: int) -> PretrainConfig:
    return tiny_config(store, out, steps=steps, checkpoint_every=2, log_every=1)


def test_nan_loss_stops_the_run_without_overwriting(train_store, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_step = trainer.loop.train_step
    seen: dict[str, str] = {}

    def poisoned(model, views, optimizer, lr, *rest):
        calls = seen.setdefault("calls", "")
        seen["calls"] = calls + "."
        loss, parts = real_step(model, views, optimizer, lr, *rest)
        if len(calls) == 2:  # the third step (done = 3): checkpoint of step 2 is on disk
            seen["sha"] = _sha(out / "checkpoint.pt")
            return torch.tensor(float("nan")), parts
        return loss, parts

    monkeypatch.setattr(trainer.loop, "train_step", poisoned)
    with pytest.raises(trainer.loop.TrainError, match="non-finite .* at step 3: run stopped"):
        trainer.loop.pretrain(_cfg(train_store, out, 6), log=lambda s: None)
    assert _sha(out / "checkpoint.pt") == seen["sha"]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    steps = [int(r["step"]) for r in csv.DictReader((out / "log.csv").open())]
    assert steps == [1, 2]  # the non-finite step is not logged


class _Crash(Exception):
    pass


def test_log_csv_has_each_step_once_after_two_resumes(train_store, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_step = trainer.loop.train_step
    crash_at = {"step": 3}  # crash while computing this step (0-based), after its predecessors

    def crashing(model, views, optimizer, lr, *rest):
        result = real_step(model, views, optimizer, lr, *rest)
        crashing.calls += 1
        if crashing.start + crashing.calls - 1 == crash_at["step"]:
            raise _Crash
        return result

    monkeypatch.setattr(trainer.loop, "train_step", crashing)
    workers: list[int] = []
    real_loader = trainer.loop.batch_loader
    monkeypatch.setattr(trainer.loop, "available_cpus", lambda: 1)

    def loader(store, bands, plan, first, total, n_workers, pin):
        workers.append(n_workers)
        return real_loader(store, bands, plan, first, total, 0, pin)

    monkeypatch.setattr(trainer.loop, "batch_loader", loader)
    cfg = _cfg(train_store, out, 7).replace(workers=3)
    for start, crash in ((0, 3), (2, 5), (4, None)):
        crashing.start, crashing.calls = start, 0
        crash_at["step"] = crash if crash is not None else -1
        if crash is None:
            trainer.loop.pretrain(cfg, log=lambda s: None)
        else:
            with pytest.raises(_Crash):
                trainer.loop.pretrain(cfg, log=lambda s: None)
            # the crashed run logged a step its checkpoint does not hold
            logged = [int(r["step"]) for r in csv.DictReader((out / "log.csv").open())]
            assert logged[-1] == crash
    steps = [int(r["step"]) for r in csv.DictReader((out / "log.csv").open())]
    assert steps == list(range(1, 8))
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 7
    assert workers == [1, 1, 1]  # capped by the CPUs this process may use


def test_save_keeps_the_previous_checkpoint_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"step": 1, "config": {}, "scaling": {}, "model": {}, "optimizer": {}})
    before = _sha(path)

    def failing_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(
            path, {"step": 2, "config": {}, "scaling": {}, "model": {}, "optimizer": {}}
        )
    assert _sha(path) == before and load_checkpoint(path)["step"] == 1


def test_digest_catches_edits_the_container_cannot_see(tmp_path):
    path = tmp_path / "checkpoint.pt"
    state = {"step": 1, "config": {}, "scaling": {}, "model": {"w": torch.ones(3)}}
    save_checkpoint(path, {**state, "optimizer": {}})
    tampered = torch.load(path, weights_only=True)
    tampered["model"]["w"][0] = 2.0  # a re-saved file: valid CRCs, stale digest
    torch.save(tampered, path)
    with pytest.raises(CheckpointError, match="do not match the stored SHA-256"):
        load_checkpoint(path)
