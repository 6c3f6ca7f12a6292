"""Runs describe themselves (run.toml, TensorBoard, --help) and exports load natively in timm."""

from __future__ import annotations

import json
import stat

import pytest
import timm
import torch

from tests.trainer.conftest import tiny_args, tiny_config
from trainer.cli import build_parser, main
from trainer.config import PretrainConfig, load_config
from trainer.export import export_encoder, load_encoder
from trainer.loop import pretrain
from trainer.scaling import BandScaling

#: settings that were reachable only through --config before they were flags
SET_BY_FLAG = {
    "momentum": 0.8,
    "weight_decay": 0.001,
    "temperature": 0.2,
    "encoder_momentum": 0.99,
    "dim": 64,
}


@pytest.fixture(scope="module")
def flagged_run(train_store, tmp_path_factory):
    """A 4-step SeCo run on all 13 bands whose settings were given as flags."""
    out = tmp_path_factory.mktemp("runs") / "run"
    flags = [x for k, v in SET_BY_FLAG.items() for x in ("--" + k.replace("_", "-"), str(v))]
    args = tiny_args(
        train_store,
        out,
        "--bands",
        "all",
        "--steps",
        "4",
        "--checkpoint-every",
        "2",
        "--log-every",
        "1",
        *flags,
    )
    assert main(args) == 0
    return out


def test_every_pretrain_option_has_help_with_its_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    pretrain_parser = sub.choices["pretrain"]
    options = [a for a in pretrain_parser._actions if a.option_strings and a.dest != "help"]
    assert {f"--{k.replace('_', '-')}" for k in SET_BY_FLAG} <= {
        s for a in options for s in a.option_strings
    }
    for action in options:
        assert action.help and len(action.help) > 15, action.option_strings
        if action.dest != "config":
            assert "(default: " in action.help, action.option_strings
    text = pretrain_parser.format_help()
    assert "--encoder-momentum" in text and "(default: 0.999)" in text


def test_run_toml_round_trips_into_the_same_config(flagged_run):
    from trainer.checkpoint import load_checkpoint

    stored = PretrainConfig(**load_checkpoint(flagged_run / "checkpoint.pt")["config"])
    for k, v in SET_BY_FLAG.items():
        assert getattr(stored, k) == v
    text = (flagged_run / "run.toml").read_text()
    assert "# lr is unset (resolved: 0.0009375)" in text
    assert PretrainConfig().replace(**load_config(flagged_run / "run.toml")) == stored


def test_tensorboard_holds_hparams_config_views_and_accuracy(flagged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(
        str(flagged_run / "tensorboard"), size_guidance={"images": 0, "scalars": 0, "tensors": 0}
    )
    acc.Reload()
    tags = acc.Tags()
    for name in ("acc0", "acc1", "acc2", "lr", "loss"):
        values = [e.value for e in acc.Scalars(f"pretrain/{name}")]
        assert len(values) == 4, name
    assert all(0.0 <= e.value <= 1.0 for e in acc.Scalars("pretrain/acc1"))
    # views at the start (step 1) and at each checkpoint (2, 4): rows 4 locations, 4 columns
    # under a 14-px strip naming them (q, k0, k1, k2)
    images = acc.Images("views")
    assert [e.step for e in images] == [1, 2, 4]
    assert images[0].width == 4 * 32 + 5 * 2 and images[0].height == 4 * 32 + 5 * 2 + 14
    assert (flagged_run / "loss.png").read_bytes()[:4] == b"\x89PNG"  # the loss curve
    text_tag = next(t for t in tags["tensors"] if t.startswith("config"))
    config_text = acc.Tensors(text_tag)[0].tensor_proto.string_val[0].decode()
    assert 'arch = "resnet18"' in config_text and "temperature = 0.2" in config_text
    hparams = acc.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in hparams
    assert b"encoder_momentum" in hparams["_hparams_/session_start_info"]


def _features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize("bands", ["rgb", "all"])
def test_export_loads_with_timm_local_dir_exactly(train_store, flagged_run, tmp_path, bands):
    if bands == "all":
        checkpoint = flagged_run / "checkpoint.pt"
        trained = None
    else:
        cfg = tiny_config(train_store, tmp_path / "run", steps=1)
        trained = pretrain(cfg, log=lambda s: None).model
        checkpoint = tmp_path / "run" / "checkpoint.pt"
    folder = export_encoder(checkpoint, tmp_path / "export")
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644
    chans = 13 if bands == "all" else 3
    model = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert model.num_classes == 0
    if trained is None:
        from trainer.checkpoint import load_backbone

        reference, _ = load_backbone(checkpoint)
    else:
        reference = trained.encoder.backbone
    x = torch.randn(2, chans, 32, 32)
    assert torch.equal(_features(model, x), _features(reference, x))
    meta = json.loads((folder / "config.json").read_text())
    scaling = BandScaling.from_dict(meta["scaling"])
    data = timm.data.resolve_data_config({}, model=model)
    assert data["input_size"] == (chans, 32, 32)
    mean, std = scaling.unit_mean_std()
    assert list(data["mean"]) == pytest.approx(mean) and list(data["std"]) == pytest.approx(std)
    # the project's own loader takes the same path
    loaded, loaded_scaling, _ = load_encoder(folder)
    assert torch.equal(_features(loaded, x), _features(reference, x))
    assert loaded_scaling == scaling


def test_damaged_export_is_refused(flagged_run, tmp_path, train_store, capsys):
    folder = export_encoder(flagged_run / "checkpoint.pt", tmp_path / "export")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    evaluate = ["evaluate", "--task", "synthetic-landcover", "--data", train_store, "--size", "32"]
    assert main([*evaluate, "--encoder", str(folder), "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert "SHA-256 does not match" in err and len(err.strip().splitlines()) == 1
