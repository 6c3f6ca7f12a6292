"""The CUDA fast path's pieces exercised on the CPU, so CI covers them without a GPU.

- ``--compile`` runs real pre-training steps (query and momentum encoders, crop and colour
  augmentations all compiled) and must give the eager float32 run's losses. The loop is
  compiled with the ``aot_eager`` backend (dynamo's capture and AOTAutograd's forward/backward
  split, no code generation); inductor, the default backend, compiles the augmentations, our
  own kernels, and must give the eager views (RGB: the hue rotation is the riskiest code; the
  13-band path is compiled by inductor in ``make gpu-check``'s all-band bench). Why not
  inductor on the whole step: its CPU compile time grows with the number of distinct kernels,
  and a SeCo step of a ResNet-18, of timm's ``test_resnet`` and of the two-layer encoder below
  took about 105 s, 120 s and more than 80 s of CPU time to compile on this project's 2-core
  machine (the last one stopped by the test timeout), more than CI's budget for these tests.
  The real ResNets are compiled with inductor on a GPU by ``make gpu-check``.
- ``--bf16`` autocast on the CPU must change the losses a little, not much.

The encoder is ``fastpath_tiny``, registered with timm below: two conv-BN-ReLU layers and a
global pool, the layer kinds of a ResNet.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
import torch.nn as nn
from timm.models import register_model

from tests.conftest import ROOT
from tests.trainer.conftest import tiny_args
from tools.gpucheck import CheckFailed, compare_losses
from trainer.augment import DeviceAugment
from trainer.augment_config import AugmentConfig
from trainer.checkpoint import load_checkpoint
from trainer.cli import main
from trainer.step import autocast_for, bf16_enabled

TINY = ("--arch", "fastpath_tiny", "--steps", "2", "--log-every", "1")


class TinyEncoder(nn.Module):
    """(B, C, H, W) → (B, 16) features: conv-BN-ReLU twice (stride 2), global average pool."""

    def __init__(self, in_chans: int = 3, num_classes: int = 0, **_: object) -> None:
        super().__init__()
        self.num_features = 16
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, 8, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


if not timm.is_model("fastpath_tiny"):

    @register_model
    def fastpath_tiny(pretrained: bool = False, **kwargs: object) -> TinyEncoder:
        return TinyEncoder(**kwargs)


def _compiler() -> str | None:
    """The C++ compiler inductor would call on the CPU, or None."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else []
    for name in [*names, "g++", "c++", "clang++"]:
        if shutil.which(name):
            return name
    return None


needs_compiler = pytest.mark.skipif(
    _compiler() is None,
    reason="torch.compile's inductor backend needs a C++ compiler on the CPU (none of $CXX, "
    "g++, c++, clang++ is on PATH)",
)


def _losses(out: Path) -> list[tuple[int, float]]:
    with (out / "log.csv").open() as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def eager(train_store, tmp_path_factory) -> list[tuple[int, float]]:
    """Per-step losses of the eager float32 run (the CPU default) that the others must match."""
    out = tmp_path_factory.mktemp("eager") / "run"
    assert main(tiny_args(train_store, out, *TINY)) == 0
    assert load_checkpoint(out / "checkpoint.pt")["config"]["bf16"] is None
    return _losses(out)


def test_compiled_pretraining_matches_eager(train_store, tmp_path, eager, monkeypatch):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    out = tmp_path / "compiled"
    assert main(tiny_args(train_store, out, *TINY, "--compile")) == 0
    compiled = _losses(out)
    assert [s for s, _ in compiled] == [s for s, _ in eager] == [1, 2]
    torch.testing.assert_close(
        [v for _, v in compiled], [v for _, v in eager], rtol=1e-3, atol=1e-4
    )
    # really compiled, in whole graphs: query encoder, momentum encoder, crop, colour
    assert counters["stats"]["unique_graphs"] >= 4
    assert not counters["graph_break"], dict(counters["graph_break"])


def test_bf16_autocast_on_the_cpu_when_asked(train_store, tmp_path, eager):
    out = tmp_path / "bf16"
    assert main(tiny_args(train_store, out, *TINY, "--bf16")) == 0
    assert load_checkpoint(out / "checkpoint.pt")["config"]["bf16"] is True
    half = _losses(out)
    values, reference = [v for _, v in half], [v for _, v in eager]
    assert values != reference  # autocast really changed the arithmetic
    torch.testing.assert_close(values, reference, rtol=0.03, atol=0.0)


def test_bf16_is_cuda_only_unless_asked():
    assert bf16_enabled("cuda", None) and not bf16_enabled("cpu", None)
    assert bf16_enabled("cpu", True) and not bf16_enabled("cuda", False)
    with autocast_for(torch.device("cpu"), True):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast_for(torch.device("cpu"), None):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@needs_compiler
@pytest.mark.parametrize("channels", [3])  # 13 bands: another ~25-50 s of CPU; see gpu-check
def test_compiled_augmentations_match_eager(channels):
    torch._dynamo.reset()
    cfg = AugmentConfig(size=24, blur_kernel=7)
    x = torch.rand((6, channels, 40, 36), generator=torch.Generator().manual_seed(channels))
    eager, compiled = DeviceAugment(cfg), DeviceAugment(cfg, compile=True)
    for seed in (1, 2):  # the second call reuses the compiled graphs with new parameters
        g1, g2 = (torch.Generator().manual_seed(seed) for _ in range(2))
        torch.testing.assert_close(compiled.augment(x, g1), eager.augment(x, g2), atol=1e-5, rtol=0)
        torch.testing.assert_close(compiled.crop(x, g1), eager.crop(x, g2), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------ make gpu-check


def test_bench_takes_several_architectures_and_skips_p2(train_store, tmp_path):
    from tools.trainer_bench import run

    docs = tmp_path / "docs"
    figures = run(
        train_store,
        "fastpath_tiny,test_resnet",
        8,
        32,
        2,
        False,
        0,
        0,
        docs=docs,
        workdir=str(tmp_path),
        bands=["rgb"],
    )
    assert figures["cpu_reference_pipeline_fastpath_tiny_rgb_loc_s"] > 0
    assert figures["cpu_reference_ceiling_test_resnet_rgb_loc_s"] > 0
    assert not any(k.startswith("p2_") or k.endswith("_all_loc_s") for k in figures)
    sections = json.loads((docs / "benchmarks.json").read_text())["_sections"]
    assert set(sections) == {"trainer_bench", "trainer_bench_test_resnet"}
    assert sections["trainer_bench_test_resnet"]["command"].endswith(
        "--bands rgb --reader-locations 0"
    )
    with pytest.raises(ValueError, match="infrared"):
        run(train_store, "resnet18", 8, 32, 2, False, 0, 0, docs=docs, bands=["infrared"])


def test_losses_must_be_finite_and_match():
    eager = [(1, 10.0), (2, 9.0)]
    assert compare_losses("seco", eager, [(1, 10.1), (2, 9.3)]) == pytest.approx(0.3 / 9)
    with pytest.raises(CheckFailed, match=r"moco: compiled loss 10\.50000 differs .* step 1"):
        compare_losses("moco", eager, [(1, 10.5), (2, 9.0)])
    with pytest.raises(CheckFailed, match="not finite at step 2"):
        compare_losses("seco", eager, [(1, 10.0), (2, float("nan"))])
    with pytest.raises(CheckFailed, match="other steps"):
        compare_losses("seco", eager, [(1, 10.0)])


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the failure on a machine without CUDA"
)
def test_gpu_check_fails_in_one_line_without_cuda(tmp_path):
    env = {**os.environ, "PY": sys.executable, "GPU_CHECK_OUT": str(tmp_path)}
    done = subprocess.run(
        ["bash", "scripts/gpu_check.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gpu-check: FAILED environment: error: CUDA is not available")
    assert not (tmp_path / "store.log").exists()  # stopped before building anything
