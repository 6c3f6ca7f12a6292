"""Multi-process runs that cannot diverge: two gloo processes on the CPU (one spawn, several
phases, to pay for starting torch twice only once)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch

from tests.conftest import free_port
from tests.trainer.conftest import tiny_config, two_process_env


def _phases(rank: int, store: str, root: str, port: int) -> None:
    two_process_env(rank, port)
    from trainer.config import PretrainConfig
    from trainer.distributed import DivergenceError, agree_on_step, setup
    from trainer.loop import TrainError, pretrain

    top = Path(root)
    seen: dict[str, object] = {}

    def cfg(out: Path, steps: int) -> PretrainConfig:
        return tiny_config(store, out, steps=steps, checkpoint_every=2, log_every=1, device="cpu")

    # 1. each rank is given its own folder, as on nodes without shared storage
    try:
        pretrain(cfg(top / f"unshared{rank}", 2), log=lambda s: None)
        seen["unshared"] = "trained"
    except TrainError as e:
        seen["unshared"] = str(e)
    # 2. ranks that found different checkpoint steps stop together, before training
    d = setup("cpu")
    try:
        agree_on_step(d, 5 if rank == 0 else 0)
        seen["disagree"] = "agreed"
    except DivergenceError as e:
        seen["disagree"] = str(e)
    seen["agree"] = agree_on_step(d, 3)
    # 3. a shared folder: train 4 steps, go back to the checkpoint of step 2 (as a crash
    # between checkpoints leaves it), resume
    shared = top / "shared"
    first = pretrain(cfg(shared, 4), log=lambda s: None)
    if rank == 0:
        os.replace(shared / "checkpoint.prev.pt", shared / "checkpoint.pt")
    torch.distributed.barrier()
    again = pretrain(cfg(shared, 4), log=lambda s: None)
    seen["runs"] = [[r.first_step, r.steps, r.last_loss, r.main] for r in (first, again)]
    # 4. the usable samples are selected once per run (rank 0), not once per rank
    import trainer.inputs

    real, calls = trainer.inputs.live_samples, []
    trainer.inputs.live_samples = lambda store, *a: calls.append(1) or real(store, *a)
    pretrain(cfg(top / "once", 2), log=lambda s: None)
    trainer.inputs.live_samples = real
    seen["selections"] = len(calls)
    (top / f"rank{rank}.json").write_text(json.dumps(seen))
    torch.distributed.destroy_process_group()


def test_ranks_refuse_unshared_folders_and_resume_at_one_step(train_store, tmp_path):
    torch.multiprocessing.spawn(
        _phases, args=(train_store, str(tmp_path), free_port()), nprocs=2, join=True
    )
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    # 1. refused on every rank, in one line, and nothing was trained
    for seen in (r0, r1):
        assert "is not the same folder on every node (rank 1 cannot read" in seen["unshared"]
        assert "\n" not in seen["unshared"]
    assert not any(tmp_path.glob("unshared*/checkpoint.pt"))
    # 2. the same error on both ranks; agreement returns rank 0's step
    assert r0["disagree"] == r1["disagree"]
    assert "rank 0 resumes at step 5 but rank 1 found no checkpoint" in r0["disagree"]
    assert r0["agree"] == r1["agree"] == 3
    # 3. both ranks resumed at step 2; one reporting rank; the logged loss is global
    assert [run[:2] for run in r0["runs"]] == [[0, 4], [2, 2]]
    assert [run[:2] for run in r1["runs"]] == [[0, 4], [2, 2]]
    assert [run[3] for run in r0["runs"]] == [True, True]
    assert [run[3] for run in r1["runs"]] == [False, False]
    assert r0["runs"][1][2] == r1["runs"][1][2]  # all-reduced: the same on every rank
    # 4. one selection of the usable samples per run: rank 0's, received by rank 1
    assert (r0["selections"], r1["selections"]) == (1, 0)
    rows = list(csv.DictReader((tmp_path / "shared" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["loss"]) == r0["runs"][1][2]


def test_only_rank_zero_prints_the_summary_line(train_store, tmp_path, monkeypatch, capsys):
    import trainer.config
    import trainer.loop
    from tests.trainer.conftest import tiny_args
    from trainer.cli import main

    result = trainer.loop.RunResult(tmp_path, 0, 2, 1.5, 1.0, 8.0, 0, None, main=False)
    monkeypatch.setattr(trainer.config, "check_against_store", lambda cfg, **kw: None)
    monkeypatch.setattr(trainer.loop, "pretrain", lambda cfg, **kw: result)
    argv = tiny_args(train_store, tmp_path / "run", "--steps", "2")
    assert main(argv) == 0 and capsys.readouterr().out == ""  # rank 1, 2, …
    result.main = True
    assert main(argv) == 0 and "trained steps 0..2" in capsys.readouterr().out
