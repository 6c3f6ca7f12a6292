"""``imagenet:<timm arch>[=<weights file>]`` encoders: timm's ImageNet weights, from a file read
without executing code or from the Hugging Face hub (or its local cache); without network, one
line at once says what to download."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn as nn

from shared.outside import safe_text
from trainer.weights import WeightsError, _short, read_weights_file
from trainer.weights_scaling import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["imagenet_encoder"]


def imagenet_encoder(spec: str) -> tuple[nn.Module, str, tuple[float, ...], tuple[float, ...]]:
    """``imagenet:<timm arch>[=<weights file>]`` → (model, arch, unit mean, unit std).

    Without a file, timm fetches its default ImageNet weights for ``arch`` (from the Hugging
    Face hub or its cache). With one, the file is read safely and handed to timm's own loader
    (``pretrained_cfg_overlay=dict(state_dict=…)``), so timm's key filters and classifier
    removal apply as for a download.

    Raises:
        WeightsError: unknown architecture, no ImageNet weights, or the hub unreachable (the
            message says what to download and how to pass it).
    """
    body = spec.partition(":")[2]
    arch, eq, file = body.partition("=")
    arch = arch.strip()
    if not timm.is_model(arch):
        raise WeightsError(f"imagenet:{safe_text(arch, 60)}: unknown timm architecture")
    if eq and not file.strip():
        raise WeightsError(
            f"imagenet:{arch}=: no weights file after '=' (give imagenet:{arch}=FILE, or "
            f"imagenet:{arch} for timm's download)"
        )
    if file:
        state = read_weights_file(file)
        if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping) or not state:
            raise WeightsError(
                f"{file}: holds {type(state).__name__}, not a state dict (name → tensor) of {arch}"
            )
        bad = next(
            (k for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)), None
        )
        if bad is not None:
            raise WeightsError(f"{file}: entry {safe_text(repr(bad), 40)} is not a named tensor")
        try:
            model = timm.create_model(
                arch, pretrained=True, num_classes=0, pretrained_cfg_overlay={"state_dict": state}
            )
        except (RuntimeError, KeyError, AssertionError, TypeError, ValueError) as e:
            raise WeightsError(f"{file}: not ImageNet weights of {arch} ({_short(e)})") from e
    else:
        cfg = timm.models.get_pretrained_cfg(arch)
        repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
        where = (
            f"https://huggingface.co/{repo}/resolve/main/model.safetensors"
            if repo
            else f"timm's weights for {arch}"
        )
        hint = f"download {where} and pass imagenet:{arch}=/path/model.safetensors"
        cached = _hub_cached(repo)
        overlay = {"file": cached} if cached else None
        if cached is None and repo:
            reason = _hub_unreachable()
            if reason is not None:  # fail in one line now, not after the hub's retries
                raise WeightsError(
                    f"imagenet:{arch}: no network to fetch its ImageNet weights ({reason}); {hint}"
                )
        try:
            model = timm.create_model(
                arch, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay
            )
        except Exception as e:  # offline: hub errors, connection errors, missing cache
            raise WeightsError(
                f"imagenet:{arch}: timm could not fetch its ImageNet weights ({_short(e)}); {hint}"
            ) from e
    data_cfg: dict[str, Any] = dict(getattr(model, "pretrained_cfg", {}) or {})
    mean = tuple(float(v) for v in data_cfg.get("mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in data_cfg.get("std", IMAGENET_STD))
    return model.eval(), arch, mean, std


def _hub_cached(repo: str | None) -> str | None:
    """The path of ``repo``'s weights in the local Hugging Face cache, or None."""
    if not repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str) and Path(found).is_file():
            return found
    return None


def _hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached (offline mode, or its host name does not
    resolve), or None when it may be."""
    import os
    from urllib.parse import urlsplit

    from shared.net import unresolvable

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set and the weights are not in the local cache"
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    host = urlsplit(endpoint).hostname
    why = unresolvable(host, timeout_s=5.0) if host else None
    return None if why is None else f"{host} does not resolve: {why}"
