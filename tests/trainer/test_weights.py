"""Weights recognised by content: official SeCo Lightning checkpoints, timm/torchgeo state dicts,
ImageNet weights through timm, export conversion; features equal the same weights by hand."""

from __future__ import annotations

import argparse
import copy
import json
import os
import pickle

import numpy as np
import pytest
import timm
import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file

from trainer.cli import main
from trainer.evaluate.encoders import load_eval_encoder
from trainer.export import load_encoder
from trainer.weights import WeightsError, read_weights_file
from trainer.weights_formats import FORMATS, identify, infer_resnet_arch, weights_format
from trainer.weights_scaling import IMAGENET_MEAN, seco_scaling

X = torch.Generator().manual_seed(1)
IMAGES = torch.randn(2, 3, 64, 64, generator=X)


def _official_seco(arch: str = "resnet18") -> tuple[dict, nn.Module]:
    """The module layout of the official SeCo pre-training (``encoder_q`` as a Sequential of a
    torchvision ResNet, momentum encoder, three heads and queues) and its backbone."""
    torch.manual_seed(0)
    resnet = getattr(torchvision.models, arch)(weights=None)
    for m in resnet.modules():  # non-trivial BN statistics, as after training
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    encoder_q = nn.Sequential(
        resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
        resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,
        resnet.avgpool, nn.Flatten(1),
    )  # fmt: skip
    module = nn.Module()
    module.encoder_q = encoder_q
    module.encoder_k = copy.deepcopy(encoder_q)
    width = resnet.fc.in_features
    module.heads_q = nn.ModuleList(nn.Linear(width, 128) for _ in range(3))
    module.heads_k = copy.deepcopy(module.heads_q)
    for i in range(3):
        module.register_buffer(f"queue_{i}", torch.randn(128, 64))
        module.register_buffer(f"queue_{i}_ptr", torch.zeros(1, dtype=torch.long))
    return module.state_dict(), encoder_q.eval()


def _lightning_file(path, state, hparams) -> None:
    torch.save(
        {
            "epoch": 199,
            "global_step": 1234,
            "pytorch-lightning_version": "1.1.8",
            "state_dict": state,
            "callbacks": {},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.03}]}],
            "lr_schedulers": [],
            "hparams_name": "hparams",
            "hyper_parameters": hparams,
        },
        path,
    )


@pytest.mark.parametrize("hparams", ["attribute-dict", "namespace"])
def test_official_seco_checkpoint_gives_the_features_of_its_query_encoder(tmp_path, hparams):
    from pytorch_lightning.utilities.parsing import AttributeDict

    state, encoder_q = _official_seco()
    h = {"base_encoder": "resnet18", "emb_dim": 128, "num_negatives": 16384}
    path = tmp_path / "seco_resnet18_1m.ckpt"
    _lightning_file(
        path, state, AttributeDict(h) if hparams == "attribute-dict" else argparse.Namespace(**h)
    )
    assert identify(read_weights_file(path)) == "seco-lightning"
    enc = load_eval_encoder(str(path), ("B4", "B3", "B2"))
    assert enc.arch == "resnet18" and enc.kind == "seco-lightning"
    assert enc.bands == ("B4", "B3", "B2") and enc.scaling == seco_scaling()
    with torch.no_grad():
        assert torch.allclose(enc.model(IMAGES), encoder_q(IMAGES), atol=1e-5)


def test_lightning_hyper_parameters_load_without_lightning_installed(tmp_path, monkeypatch):
    """A class named like Lightning's AttributeDict, from a module the loader cannot import."""
    import sys
    import types

    fake = types.ModuleType("pytorch_lightning.utilities.parsing")

    class AttributeDict(dict):
        pass

    AttributeDict.__module__ = fake.__name__
    AttributeDict.__qualname__ = "AttributeDict"
    fake.AttributeDict = AttributeDict  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    state, encoder_q = _official_seco()
    path = tmp_path / "seco.ckpt"
    _lightning_file(path, state, AttributeDict(lr=0.03))
    monkeypatch.delitem(sys.modules, fake.__name__)
    obj = read_weights_file(path)
    assert obj["hyper_parameters"] == {"lr": 0.03} and obj["global_step"] == 1234


def test_code_in_a_weights_file_is_refused_not_run(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"state_dict": {}, "x": Evil()}))
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_eval_encoder(str(path), ("B4", "B3", "B2"))
    assert not marker.exists()


def test_torchgeo_state_dict_is_seco_scaled_and_equals_timm_by_hand(tmp_path):
    torch.manual_seed(2)
    ref = timm.create_model("resnet18", num_classes=1000).eval()  # torchgeo keeps fc
    path = tmp_path / "resnet18_sentinel2_rgb_seco-9976a9cb.pth"
    torch.save(ref.state_dict(), path)
    enc = load_eval_encoder(str(path), ("B4", "B3", "B2"))
    assert enc.kind == "state-dict" and enc.scaling == seco_scaling()
    ref.reset_classifier(0)
    with torch.no_grad():
        assert torch.allclose(enc.model(IMAGES), ref(IMAGES), atol=1e-6)
    # a state dict not named seco: ImageNet mean/std over the task's range
    other = tmp_path / "r18.safetensors"
    save_file({f"module.{k}": v for k, v in ref.state_dict().items()}, other)
    enc = load_eval_encoder(str(other), ("B4", "B3", "B2"))
    assert enc.scaling is None and enc.unit_stats is not None
    assert enc.unit_stats[0] == IMAGENET_MEAN


def test_architecture_is_inferred_or_asked_for(tmp_path):
    for arch in ("resnet18", "resnet50", "resnet101"):
        with torch.device("meta"):  # shapes only
            state = timm.create_model(arch, num_classes=0).state_dict()
        assert infer_resnet_arch(state) == arch
    torch.manual_seed(3)
    net = timm.create_model("resnet26", num_classes=0).eval()  # bottleneck, 2-2-2-2
    path = tmp_path / "r26.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    with pytest.raises(WeightsError, match="--encoder-arch"):
        load_eval_encoder(str(path), ("B4", "B3", "B2"))
    enc = load_eval_encoder(str(path), ("B4", "B3", "B2"), arch="resnet26")
    with torch.no_grad():
        assert torch.allclose(enc.model(IMAGES), net(IMAGES), atol=1e-6)
    with pytest.raises(WeightsError, match="missing"):
        load_eval_encoder(str(path), ("B4", "B3", "B2"), arch="resnet50")


def test_imagenet_offline_says_what_to_download_then_loads_the_file(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsError, match=r"imagenet:resnet18=/path/model\.safetensors") as err:
        load_eval_encoder("imagenet:resnet18", ("B4", "B3", "B2"))
    assert "huggingface.co/timm/resnet18" in str(err.value) and "\n" not in str(err.value)
    torch.manual_seed(4)
    ref = timm.create_model("resnet18", num_classes=1000).eval()
    file = tmp_path / "model.safetensors"
    save_file(ref.state_dict(), file)
    enc = load_eval_encoder(f"imagenet:resnet18={file}", ("B2",))
    assert enc.kind == "imagenet" and enc.bands == ("B4", "B3", "B2")
    assert enc.unit_stats is not None and enc.unit_stats[0] == pytest.approx(IMAGENET_MEAN)
    ref.reset_classifier(0)
    with torch.no_grad():
        assert torch.allclose(enc.model(IMAGES), ref(IMAGES), atol=1e-6)


def test_seco_scaling_maps_seco_quantiles_to_the_imagenet_range():
    s = seco_scaling()
    dn = torch.tensor([129.0, 103.0, 88.0]).view(3, 1, 1) * 10000 / 255  # the upper quantiles
    unit = s.to_unit(dn)
    assert torch.allclose(unit, torch.ones_like(unit))
    x = s.standardize(unit).view(-1).numpy()
    expected = (1 - np.array(IMAGENET_MEAN)) / np.array((0.229, 0.224, 0.225))
    assert np.allclose(x, expected, atol=1e-5)


def test_export_converts_an_official_seco_checkpoint(tmp_path, capsys):
    state, encoder_q = _official_seco()
    path = tmp_path / "seco_resnet18_100k.ckpt"
    _lightning_file(path, state, {"lr": 0.03})
    assert main(["export", str(path), "--out", str(tmp_path / "export")]) == 0
    model, scaling, meta = load_encoder(tmp_path / "export")
    assert meta["architecture"] == "resnet18" and scaling == seco_scaling()
    assert meta["converted_from"]["format"] == "seco-lightning"
    config = json.loads((tmp_path / "export" / "config.json").read_text())
    assert config["steps"] == 1234 and config["pretrained_cfg"]["input_size"] == [3, 224, 224]
    plain = timm.create_model(f"local-dir:{tmp_path / 'export'}", pretrained=True).eval()
    with torch.no_grad():
        assert torch.allclose(model(IMAGES), encoder_q(IMAGES), atol=1e-5)
        assert torch.allclose(plain(IMAGES), encoder_q(IMAGES), atol=1e-5)  # timm alone
    # a file of another kind: one line, exit 1, nothing written
    bad = tmp_path / "bad.pth"
    torch.save({"weights": torch.zeros(3)}, bad)
    assert main(["export", str(bad), "--out", str(tmp_path / "x")]) == 1
    assert "not a weights format" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


#: the smallest content of each format in :data:`trainer.weights_formats.FORMATS`
_W = torch.ones(64, 3, 7, 7)
SAMPLES = {
    "checkpoint": {"model": {"conv1.weight": _W}, "config": {}, "scaling": {}, "step": 1},
    "seco-lightning": {"state_dict": {"encoder_q.0.weight": _W, "encoder_k.0.weight": _W}},
    "state-dict": {"module.conv1.weight": _W, "fc.weight": torch.ones(10, 512)},
}


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_every_weights_format_is_recognised_and_read(fmt):
    """Each format recognises its own content and no earlier row takes it; a foreign format's
    backbone reader gives timm's ``conv1.weight`` (no classifier)."""
    assert set(SAMPLES) == {f.name for f in FORMATS}, "add a sample of the new format"
    obj = SAMPLES[fmt.name]
    assert weights_format(obj) is fmt and identify(obj) == fmt.name
    if fmt.ours:
        return
    inner = obj.get("state_dict", obj)
    assert set(fmt.backbone(inner)) == {"conv1.weight"}


def test_content_of_no_format_is_unknown():
    assert weights_format({"weights": [1, 2]}) is None and identify([1]) == "unknown"
