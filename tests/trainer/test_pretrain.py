"""Pre-training end to end on CPU: run, crash and resume exactly, DDP, export, bad input."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, free_port
from tests.trainer.conftest import tiny_args, tiny_config, two_process_env
from trainer.checkpoint import load_checkpoint
from trainer.cli import main


def test_pretrain_runs_and_logs(train_store, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(train_store, out, "--steps", "4", "--log-every", "2")) == 0
    assert "trained steps 0..4" in capsys.readouterr().out
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 4 and state["config"]["objective"] == "seco"
    assert state["model"]["queue"].shape == (3, 32, 128)
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4]
    assert all(float(r["loss"]) > 0 for r in rows) and rows[0]["loss1"] != ""
    assert any((out / "tensorboard").iterdir())
    # resuming a finished run does nothing
    assert main(tiny_args(train_store, out, "--steps", "4")) == 0


@pytest.mark.parametrize(
    "objective,bands,expected",
    [("moco", "rgb", ["B4", "B3", "B2"]), ("moco_tp", "B8,B4", ["B8", "B4"])],
)
def test_baselines_run(train_store, tmp_path, objective, bands, expected):
    out = tmp_path / objective
    assert (
        main(
            tiny_args(train_store, out, "--steps", "2", "--objective", objective, "--bands", bands)
        )
        == 0
    )
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["model"]["queue"].shape[0] == 1  # one head, one queue
    assert state["scaling"]["bands"] == expected


def _weights(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)
    flat = {f"model.{k}": v for k, v in state["model"].items()}
    for i, s in state["optimizer"]["state"].items():
        flat[f"opt.{i}"] = s["momentum_buffer"]
    return flat


def test_kill_and_resume_equals_uninterrupted(train_store, tmp_path):
    args = ["--steps", "12", "--checkpoint-every", "3", "--objective", "seco"]
    ref = tmp_path / "ref"
    assert main(tiny_args(train_store, ref, *args)) == 0
    crash = tmp_path / "crash"
    cmd = [sys.executable, "-m", "trainer", *tiny_args(train_store, crash, *args)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 120
    while not (crash / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    step_at_kill = load_checkpoint(crash / "checkpoint.pt")["step"]
    assert step_at_kill < 12  # the crash really interrupted the run
    assert main(tiny_args(train_store, crash, *args)) == 0
    a, b = _weights(ref / "checkpoint.pt"), _weights(crash / "checkpoint.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_with_other_settings_is_refused(train_store, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(train_store, out, "--steps", "2")) == 0
    capsys.readouterr()
    assert main(tiny_args(train_store, out, "--steps", "2", "--lr", "0.5")) == 1
    err = capsys.readouterr().err
    assert "other settings (lr)" in err and len(err.strip().splitlines()) == 1


def _ddp_worker(rank: int, store: str, out: str, port: int) -> None:
    two_process_env(rank, port)
    from trainer.loop import pretrain

    cfg = tiny_config(store, out, steps=3, device="cpu")
    result = pretrain(cfg, log=lambda s: None)
    torch.save({"queue": result.model.queue, "ptr": result.model.queue_ptr}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_two_process_ddp_keeps_identical_queues(train_store, tmp_path):
    port = free_port()
    # spawn, not fork: forking a process that already runs threads (torch, zarr) can deadlock
    torch.multiprocessing.spawn(
        _ddp_worker, args=(train_store, str(tmp_path), port), nprocs=2, join=True
    )
    q0, q1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert torch.equal(q0["queue"], q1["queue"]) and q0["ptr"].tolist() == [
        24,
        24,
        24,
    ]  # 3 steps × 8
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 3


def test_export_loads_in_timm_with_the_same_features(train_store, tmp_path):
    from trainer.export import export_encoder, load_encoder
    from trainer.loop import pretrain

    cfg = tiny_config(train_store, tmp_path / "run", bands="all", steps=2)
    result = pretrain(cfg, log=lambda s: None)
    folder = export_encoder(tmp_path / "run" / "checkpoint.pt", tmp_path / "export")
    model, scaling, meta = load_encoder(folder)
    assert meta["in_chans"] == 13 and scaling.bands[0] == "B1"
    trained = result.model.encoder.backbone.eval()
    x = torch.randn(2, 13, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), trained(x), atol=1e-6)
    assert (
        main(["export", str(tmp_path / "run" / "checkpoint.pt"), "--out", str(tmp_path / "again")])
        == 0
    )


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--store", "/nowhere.zarr"], 2, "no such store"),
        (["--arch", "resnet9000"], 2, "unknown timm architecture"),
        (["--bands", "B99"], 2, "unknown band"),
        (["--objective", "simclr"], 2, "objective: expected one of seco, moco, moco_tp"),
        (["--batch", "64"], 2, "batch: 64 is larger than the store's 40 usable sample(s)"),
        (["--steps", "0"], 2, "steps: expected an integer in [1, "),
    ],
)
def test_bad_input_is_one_line(train_store, tmp_path, capsys, args, code, message):
    argv = tiny_args(train_store, tmp_path / "x", "--steps", "1")
    for i in range(0, len(args), 2):
        argv += args[i : i + 2]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_config_file_with_overrides(train_store, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('arch = "resnet18"\nsteps = 1\nlr = 0.01\nbogus = 3\n')
    assert (
        main(
            ["pretrain", "--config", str(cfg), "--store", train_store, "--out", str(tmp_path / "o")]
        )
        == 2
    )
    assert "unknown setting(s): bogus" in capsys.readouterr().err


def test_bench_runs_and_records(train_store, tmp_path):
    from tools.trainer_bench import run

    figures = run(
        train_store,
        "resnet18",
        8,
        32,
        2,
        False,
        0,
        20,
        docs=tmp_path / "docs",
        workdir=str(tmp_path),
    )
    assert figures["device"] == "cpu" and figures["p1_ratio_resnet50_rgb"] is None
    assert (
        figures["p2_reader_rgb_loc_s_per_core"] > 0
        and figures["p2_decode_bound_rgb_loc_s_per_core"] > 0
    )
    assert figures["cpu_reference_pipeline_resnet18_rgb_loc_s"] > 0
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    assert "No CUDA device on this machine" in page and "P2 reader, rgb" in page


def _shuffle_worker(rank: int, out: str, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    from trainer.distributed import ShuffledKeys

    x = torch.arange(8.0).reshape(4, 2) + 100 * rank  # rank r holds samples 4r..4r+3
    per_sample = ShuffledKeys(lambda b: [b * 2, b.sum(1, keepdim=True)], seed=5)
    per_sample.at_step(3)
    a = per_sample(x)
    # a batch-statistic encoder (BatchNorm's shortcut): what each slice is centred on
    centred = ShuffledKeys(lambda b: [b - b.mean(0, keepdim=True)], seed=5)
    centred.at_step(3)
    c1 = centred(x)[0]
    centred.at_step(3)
    c2 = centred(x)[0]
    torch.save({"x": x, "a": a, "c1": c1, "c2": c2}, f"{out}/shuffle{rank}.pt")
    torch.distributed.destroy_process_group()


def test_shuffle_bn_returns_each_process_its_own_keys(tmp_path):
    port = free_port()
    torch.multiprocessing.spawn(_shuffle_worker, args=(str(tmp_path), port), nprocs=2, join=True)
    r = [torch.load(tmp_path / f"shuffle{k}.pt", weights_only=True) for k in range(2)]
    for k in range(2):
        x = r[k]["x"]
        # a per-sample encoder gives exactly the unshuffled result, in this process's order
        assert torch.equal(r[k]["a"][0], x * 2) and torch.equal(
            r[k]["a"][1], x.sum(1, keepdim=True)
        )
        # the same step shuffles the same way (exact resume)
        assert torch.equal(r[k]["c1"], r[k]["c2"])
    # batch statistics came from a mix of both processes' samples, not from the own batch
    local = [r[k]["x"] - r[k]["x"].mean(0, keepdim=True) for k in range(2)]
    assert not all(torch.allclose(r[k]["c1"], local[k]) for k in range(2))
