"""Run settings are checked at the boundary: types from config files, devices, the store."""

from __future__ import annotations

import os

import pytest
import torch

from shared.validate import ConfigValueError
from trainer.checkpoint import run_identity
from trainer.config import (
    PretrainConfig,
    check_against_store,
    check_device,
    check_evaluation,
    check_protocols,
    load_config,
)


@pytest.mark.parametrize(
    "text,message",
    [
        ("arch = 5\n", "run.toml: arch: expected text, got 5"),
        ("steps = 1.5\n", "run.toml: steps: expected an integer, got 1.5"),
        ('batch = "eight"\n', "run.toml: batch: expected an integer, got 'eight'"),
        ("lr = -1.0\n", "run.toml: lr: expected a number in (0, 1000]"),
        ("queue = 100000000000000000000\n", "run.toml: queue: expected an integer in"),
        ("colour = 'blue'\n", "unknown setting(s): colour"),
        ("steps = \n", "is not valid TOML"),
    ],
)
def test_config_file_values_are_typed(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(ConfigValueError) as info:
        load_config(path)
    assert message in str(info.value)


def test_config_file_good_values_are_normalised(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"epochs": 2, "steps": 10, "arch": "resnet18"}')
    settings = load_config(path)
    assert settings == {"epochs": 2.0, "steps": 10, "arch": "resnet18"}
    assert isinstance(settings["epochs"], float)
    assert PretrainConfig().replace(**settings).epochs == 2.0


def test_a_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(ConfigValueError, match="is a folder"):
        load_config(tmp_path)


def test_devices():
    assert check_device("cpu") == "cpu" and check_device("auto") == "auto"
    with pytest.raises(ConfigValueError, match="tpu9"):
        check_device("tpu9")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ConfigValueError, match="cuda:99"):
        check_device("cuda:99")
    if count == 0:
        with pytest.raises(ConfigValueError, match="no CUDA device"):
            check_device("cuda")


def test_protocols():
    assert check_protocols(None, "classification") is None
    assert check_protocols("linear, knn", "classification") == ("linear", "knn")
    with pytest.raises(ConfigValueError, match="expected one of linear, knn, finetune"):
        check_protocols("bogus", "classification")
    with pytest.raises(ConfigValueError, match="no protocol"):
        check_protocols(",", "classification")
    with pytest.raises(ConfigValueError, match="expected one of change"):
        check_protocols("linear", "change")


def test_run_against_its_store(train_store, tmp_path):
    base = PretrainConfig(store=train_store, out=str(tmp_path / "run"), arch="resnet18")
    check_against_store(base.replace(size=48, batch=40, device="cpu"))  # 48 px, 40 samples
    with pytest.raises(ConfigValueError, match="size: 49 px is larger than the store's 48-px"):
        check_against_store(base.replace(size=49, batch=8, device="cpu"))
    with pytest.raises(ConfigValueError, match="batch: 41 is larger than the store's 40"):
        check_against_store(base.replace(size=32, batch=41, device="cpu"))
    with pytest.raises(ConfigValueError, match="bands"):
        check_against_store(base.replace(size=32, batch=8, bands="B99", device="cpu"))
    with pytest.raises(ConfigValueError, match="unknown timm architecture"):
        check_against_store(base.replace(size=32, batch=8, arch="resnet9000", device="cpu"))


def test_one_store_however_its_path_is_spelt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.zarr").mkdir()
    spellings = ["s.zarr", "./s.zarr", str(tmp_path / "s.zarr"), f"{tmp_path}{os.sep}s.zarr/"]
    identities = [run_identity(PretrainConfig(store=s).to_dict()) for s in spellings]
    assert all(i == identities[0] for i in identities)
    other = run_identity(PretrainConfig(store="other.zarr").to_dict())
    assert other != identities[0]
    assert run_identity({"store": "s3://b/s.zarr"})["store"] == "s3://b/s.zarr"


def test_evaluation_settings(train_store, tmp_path):
    check_evaluation(train_store, ["random:resnet18", "imagenet:resnet50"], 48, "cpu", 1)
    with pytest.raises(ConfigValueError, match="--size: 49 px is larger than the store's 48-px"):
        check_evaluation(train_store, ["random"], 49, "cpu", 1)
    with pytest.raises(ConfigValueError, match="--encoder: .*missing.pt does not exist"):
        check_evaluation(train_store, [str(tmp_path / "missing.pt")], 32, "cpu", 1)
    with pytest.raises(ConfigValueError, match="--change-steps"):
        check_evaluation(train_store, ["random"], 32, "cpu", 0)
