"""``imagenet:`` without network: one line at once, with the download hint."""

from __future__ import annotations

import pytest

from trainer import weights_imagenet
from trainer.weights import WeightsError
from trainer.weights_imagenet import imagenet_encoder


def test_imagenet_weights_without_network_fail_at_once_with_the_hint(monkeypatch):
    monkeypatch.setattr(weights_imagenet, "_hub_cached", lambda repo: None)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(
        "timm.create_model",
        lambda *a, **k: pytest.fail("the hub must not be tried without network"),
    )
    with pytest.raises(WeightsError) as e:
        imagenet_encoder("imagenet:resnet18")
    text = str(e.value)
    assert "\n" not in text and "hub.example.invalid does not resolve" in text
    assert text.endswith("pass imagenet:resnet18=/path/model.safetensors")
    assert "https://huggingface.co/timm/resnet18" in text


def test_offline_mode_without_cached_weights_fails_at_once(monkeypatch):
    monkeypatch.setattr(weights_imagenet, "_hub_cached", lambda repo: None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(
        "timm.create_model", lambda *a, **k: pytest.fail("offline: the hub must not be tried")
    )
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE is set"):
        imagenet_encoder("imagenet:resnet18")
