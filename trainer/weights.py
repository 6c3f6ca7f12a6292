"""Encoder weights recognised by their content, loaded without executing code.

A weights *file* is read with ``torch.load(weights_only=True)`` (or safetensors) and told apart
by what it holds, not by its name:

* **our training checkpoint** — ``model``/``config``/``scaling``/``step`` (read again through
  :func:`trainer.checkpoint.load_checkpoint`, which owns its integrity checks);
* **an official SeCo Lightning checkpoint** (``seco_resnet18_1m.ckpt`` …) — a ``state_dict``
  whose query encoder ``encoder_q`` is ``nn.Sequential(conv1, bn1, relu, maxpool, layer1,
  layer2, layer3, layer4, avgpool, Flatten)`` of a torchvision ResNet, so ``encoder_q.0.*`` is
  ``conv1.*`` and ``encoder_q.4.*`` is ``layer1.*``; ``encoder_k``, heads and queues beside it
  are ignored, as are Lightning's ``epoch``, ``global_step``, ``hyper_parameters`` …;
* **a timm / torchvision / torchgeo state dict** — plain ResNet keys (``conv1.weight``,
  ``layer1.0.conv1.weight`` …), optionally under ``state_dict`` and behind a ``module.``,
  ``model.``, ``backbone.`` or ``encoder.`` prefix; a classifier ``fc.*`` is dropped.

The architecture comes from the file (our formats) or from the ResNet's shape (block type and
blocks per stage: resnet18/34/50/101/152); otherwise ``arch`` must be given
(``--encoder-arch``). Lightning pickles ``hyper_parameters`` as ``AttributeDict`` or
``argparse.Namespace``: these, and nothing else, are allow-listed (the first read as a plain
dict), so a checkpoint is readable without pytorch-lightning and can run no code.

Input scaling travels with the weights (:class:`~trainer.scaling.BandScaling`): our formats
carry the pre-training store's; published SeCo weights get SeCo's own (see
:func:`seco_scaling`): an official SeCo checkpoint always, a plain 3-channel state dict when its
file name says ``seco`` (as torchgeo's ``resnet18_sentinel2_rgb_seco-….pth`` do); other foreign
weights get ImageNet's mean and std over a [0, 1] range taken from the task's training images.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn as nn

from shared.layout.bands import RGB
from shared.outside import safe_text
from trainer.scaling import BandScaling

__all__ = [
    "WeightsError",
    "ForeignWeights",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SECO_UINT8_QUANTILES",
    "read_weights_file",
    "identify",
    "WeightsFormat",
    "FORMATS",
    "weights_format",
    "load_foreign",
    "infer_resnet_arch",
    "seco_scaling",
    "unit_scaling",
    "imagenet_encoder",
    "export_foreign",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: SeCo's pre-training images are uint8 (reflectance × 255, clipped); each RGB band was then
#: stretched between these 2 % / 98 % quantiles (in that uint8 scale) to 0–255 before the
#: ImageNet mean/std (official ``datasets/seco_dataset.py``, its ``QUANTILES``).
SECO_UINT8_QUANTILES: dict[str, tuple[float, float]] = {
    "B2": (3.0, 88.0),
    "B3": (2.0, 103.0),
    "B4": (0.0, 129.0),
}
#: torchvision index inside SeCo's ``encoder_q`` Sequential → ResNet module name
_SECO_SEQUENTIAL = {0: "conv1", 1: "bn1", 4: "layer1", 5: "layer2", 6: "layer3", 7: "layer4"}
_PREFIXES = ("module.", "model.", "backbone.", "encoder.", "net.")
#: blocks per stage → timm name, for the standard ResNets (basic vs bottleneck blocks)
_RESNETS = {
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (True, (3, 8, 36, 3)): "resnet152",
}


class WeightsError(ValueError):
    """A weights file that cannot be read or used as asked (one line says why)."""


@dataclass
class ForeignWeights:
    """Backbone weights in timm key names with what is known about them."""

    kind: str  # the name of its format in :data:`FORMATS`
    state: dict[str, torch.Tensor]
    arch: str
    in_chans: int
    bands: tuple[str, ...]
    scaling: BandScaling | None  # None: ImageNet mean/std over the task's own range
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


# -- reading without executing code ----------------------------------------------------------


#: the only classes a foreign checkpoint may name besides tensors and containers: Lightning's
#: ``AttributeDict`` (a dict subclass) is read as a plain dict, so Lightning need not be installed
#: and none of its code runs; ``argparse.Namespace`` only sets attributes.
_SAFE_STAND_INS: list[Any] = [
    (dict, "pytorch_lightning.utilities.parsing.AttributeDict"),
    (dict, "lightning.pytorch.utilities.parsing.AttributeDict"),
    (dict, "lightning_fabric.utilities.data.AttributeDict"),
    argparse.Namespace,
]


def read_weights_file(path: str | Path) -> Any:
    """The object stored in ``path`` (``.safetensors`` or a torch pickle), on the CPU.

    Raises:
        FileNotFoundError: no file at ``path``.
        WeightsError: not a safetensors file or a pickle of tensors and plain values.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no weights file at {p}")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except Exception as e:  # header errors, truncation
            raise WeightsError(f"{p} is not a readable safetensors file ({_short(e)})") from e
    with p.open("rb") as f:
        zipped = f.read(4) == b"PK\x03\x04"  # torch's own format, whole or truncated
    if zipped:  # damage is named as such, not as "unreadable"
        from trainer.checkpoint import CheckpointError, check_container

        try:
            check_container(p)
        except CheckpointError as e:
            raise WeightsError(str(e)) from e
    try:
        with torch.serialization.safe_globals(_SAFE_STAND_INS):
            return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, foreign classes, truncated files
        raise WeightsError(
            f"{p} is not a readable weights file: only tensors, plain values and Lightning "
            f"hyper-parameters are accepted ({_short(e)})"
        ) from e


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160] if text else ''}"


# -- recognising the format ---------------------------------------------------------------------


def _strip_prefix(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _seco_backbone(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``encoder_q.<i>.<rest>`` → ``<resnet module>.<rest>`` for the indices of
    :data:`_SECO_SEQUENTIAL`; the momentum encoder, heads and queues are left out."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.match(r"^encoder_q\.(\d+)\.(.+)$", key)
        if m and int(m.group(1)) in _SECO_SEQUENTIAL:
            out[f"{_SECO_SEQUENTIAL[int(m.group(1))]}.{m.group(2)}"] = value
    return out


def _plain_backbone(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        _strip_prefix(k): v
        for k, v in state.items()
        if not _strip_prefix(k).startswith(("fc.", "head.", "classifier."))
    }


def _inner(obj: Mapping[Any, Any]) -> Mapping[Any, Any]:
    nested = obj.get("state_dict")
    return nested if isinstance(nested, Mapping) else obj


def _is_checkpoint(obj: Mapping[Any, Any]) -> bool:
    return {"model", "config", "scaling"} <= set(obj) and isinstance(obj.get("model"), Mapping)


def _is_seco_lightning(obj: Mapping[Any, Any]) -> bool:
    return any(isinstance(k, str) and k.startswith("encoder_q.0.") for k in _inner(obj))


def _is_state_dict(obj: Mapping[Any, Any]) -> bool:
    inner = _inner(obj)
    return any(isinstance(k, str) and _strip_prefix(k).startswith("conv1.") for k in inner) and all(
        isinstance(v, torch.Tensor) for v in inner.values()
    )


@dataclass(frozen=True)
class WeightsFormat:
    """One weights format: how its content is recognised, what it is called in messages, and
    how its backbone is read (None: our own checkpoint, read by :mod:`trainer.checkpoint`).
    ``published_seco``: SeCo's own weights, which always get SeCo's input scaling."""

    name: str
    describe: str
    matches: Callable[[Mapping[Any, Any]], bool]
    backbone: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]] | None
    published_seco: bool = False

    @property
    def ours(self) -> bool:
        return self.backbone is None


#: every format, tried in this order (the first that matches wins)
FORMATS: tuple[WeightsFormat, ...] = (
    WeightsFormat("checkpoint", "a checkpoint of ours", _is_checkpoint, None),
    WeightsFormat(
        "seco-lightning",
        "an official SeCo Lightning checkpoint",
        _is_seco_lightning,
        _seco_backbone,
        published_seco=True,
    ),
    WeightsFormat("state-dict", "a ResNet state dict", _is_state_dict, _plain_backbone),
)
FORMAT_BY_NAME = {f.name: f for f in FORMATS}


def weights_format(obj: Any) -> WeightsFormat | None:
    """The format of a weights file's content, or None when no format matches."""
    if not isinstance(obj, Mapping):
        return None
    return next((f for f in FORMATS if f.matches(obj)), None)


def identify(obj: Any) -> str:
    """The name of the content's format (:data:`FORMATS`: ``"checkpoint"`` (ours),
    ``"seco-lightning"``, ``"state-dict"``) or ``"unknown"``."""
    fmt = weights_format(obj)
    return fmt.name if fmt is not None else "unknown"


def infer_resnet_arch(state: Mapping[str, torch.Tensor]) -> str | None:
    """The timm name of a standard ResNet from its keys and shapes, or None if not one."""
    if "conv1.weight" not in state or tuple(state["conv1.weight"].shape[:1]) != (64,):
        return None
    counts = []
    for stage in range(1, 5):
        blocks = {int(m.group(1)) for k in state if (m := re.match(rf"^layer{stage}\.(\d+)\.", k))}
        if not blocks:
            return None
        counts.append(max(blocks) + 1)
    bottleneck = "layer1.0.conv3.weight" in state
    width = state.get("layer1.0.conv1.weight")
    if width is None or width.shape[0] != 64:
        return None  # wide or otherwise modified ResNets: ask for --encoder-arch
    c1, c2, c3, c4 = counts
    return _RESNETS.get((bottleneck, (c1, c2, c3, c4)))


# -- scaling --------------------------------------------------------------------------------------


def unit_scaling(
    bands: tuple[str, ...],
    low: tuple[float, ...],
    high: tuple[float, ...],
    unit_mean: tuple[float, ...],
    unit_std: tuple[float, ...],
) -> BandScaling:
    """A :class:`BandScaling` that stretches DN ``low``…``high`` to [0, 1] and then standardises
    with ``unit_mean``/``unit_std`` given in that [0, 1] scale (e.g. ImageNet's)."""
    lo, hi = np.asarray(low, float), np.asarray(high, float)
    span = np.maximum(hi - lo, 1.0)
    mean = lo + np.asarray(unit_mean, float) * span
    std = np.asarray(unit_std, float) * span
    return BandScaling(
        tuple(bands),
        tuple(float(v) for v in lo),
        tuple(float(v) for v in lo + span),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in std),
    )


def seco_scaling(bands: tuple[str, ...] = RGB) -> BandScaling:
    """SeCo's pre-training input scaling as DN → network input, for RGB bands in any order.

    SeCo stored reflectance × 255 as uint8, stretched each band between
    :data:`SECO_UINT8_QUANTILES` to 0–255, then applied the ImageNet mean/std; in DN
    (reflectance × 10⁴) that is a stretch between ``q × 10000 / 255`` (up to the uint8
    rounding) followed by the same mean/std.

    Raises:
        WeightsError: a band other than B2, B3, B4.
    """
    unknown = [b for b in bands if b not in SECO_UINT8_QUANTILES]
    if unknown:
        raise WeightsError(f"published SeCo weights take B4, B3, B2 only, not {unknown}")
    rgb_stats = dict(zip(RGB, zip(IMAGENET_MEAN, IMAGENET_STD, strict=True), strict=True))
    dn = 10000.0 / 255.0
    return unit_scaling(
        tuple(bands),
        tuple(SECO_UINT8_QUANTILES[b][0] * dn for b in bands),
        tuple(SECO_UINT8_QUANTILES[b][1] * dn for b in bands),
        tuple(rgb_stats[b][0] for b in bands),
        tuple(rgb_stats[b][1] for b in bands),
    )


# -- loading --------------------------------------------------------------------------------------


def load_foreign(
    path: str | Path,
    arch: str | None = None,
    bands: tuple[str, ...] | None = None,
    obj: Any = None,
) -> ForeignWeights:
    """Backbone weights of a published SeCo checkpoint or a plain state dict.

    ``arch`` overrides the inferred architecture; ``bands`` names the channels of an
    ``in_chans`` ≠ 3 state dict (3 channels are taken as B4, B3, B2, as SeCo and ImageNet do).
    ``obj`` is the already-read file content, if the caller has it.

    Raises:
        WeightsError: an unknown format, an architecture that cannot be inferred, channels
            that cannot be named.
    """
    p = Path(path)
    obj = read_weights_file(p) if obj is None else obj
    fmt = weights_format(obj)
    if fmt is None or fmt.backbone is None:
        known = ", ".join(f.describe for f in FORMATS)
        raise WeightsError(
            f"{p}: not a weights format this tool knows ({known} or an export folder)"
        )
    state = fmt.backbone(_inner(obj))
    arch = arch or infer_resnet_arch(state)
    if arch is None:
        raise WeightsError(
            f"{p}: cannot tell the architecture from the weights; pass it with "
            f"--encoder-arch (a timm name such as resnet50)"
        )
    in_chans = int(state["conv1.weight"].shape[1]) if "conv1.weight" in state else 3
    if in_chans == 3:
        channel_bands: tuple[str, ...] = RGB
    elif bands is not None and len(bands) == in_chans:
        channel_bands = tuple(bands)
    else:
        raise WeightsError(
            f"{p}: the weights take {in_chans} channels; name them in order with --bands"
        )
    seco = fmt.published_seco or "seco" in p.name.lower()
    scaling = seco_scaling(channel_bands) if seco and in_chans == 3 else None
    meta: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for key in ("epoch", "global_step", "pytorch-lightning_version"):
            if isinstance(obj.get(key), int | str):
                meta[key] = obj[key]
    return ForeignWeights(fmt.name, state, arch, in_chans, channel_bands, scaling, str(p), meta)


def build_model(weights: ForeignWeights) -> nn.Module:
    """A timm model (``num_classes=0``, eval mode) holding exactly ``weights.state``.

    Raises:
        WeightsError: the weights do not fit the architecture (names the first mismatch).
    """
    if not timm.is_model(weights.arch):
        raise WeightsError(f"unknown timm architecture {weights.arch!r} (see --encoder-arch)")
    model = timm.create_model(
        weights.arch, pretrained=False, num_classes=0, in_chans=weights.in_chans
    )
    try:
        missing, unexpected = model.load_state_dict(weights.state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise WeightsError(
            f"{weights.source}: weights do not fit {weights.arch} ({_short(e)})"
        ) from e
    if missing or unexpected:
        first = (missing or unexpected)[0]
        what = "missing" if missing else "unexpected"
        raise WeightsError(
            f"{weights.source}: {len(missing)} weights missing and {len(unexpected)} unexpected "
            f"for {weights.arch} (first {what}: {first}); check --encoder-arch"
        )
    return model.eval()


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


# -- export ---------------------------------------------------------------------------------------


def export_foreign(
    path: str | Path, out: str | Path, arch: str | None = None, bands: tuple[str, ...] | None = None
) -> Path:
    """Write a published SeCo checkpoint or a state dict as an export folder
    (``model.safetensors`` + ``config.json``, the format of :mod:`trainer.export`).

    Raises:
        WeightsError: as :func:`load_foreign`, or weights without a known input scaling (only
            SeCo weights carry one; others are evaluated with ImageNet statistics instead).
    """
    from trainer.export import write_export

    weights = load_foreign(path, arch, bands)
    model = build_model(weights)  # refuse weights that do not fit before writing anything
    if weights.scaling is None:
        raise WeightsError(
            f"{path}: no input scaling is known for these weights (only published SeCo weights "
            f"carry one); evaluate the file directly instead of exporting it"
        )
    extra = {
        "objective": "seco (published weights)"
        if FORMAT_BY_NAME[weights.kind].published_seco
        else "foreign",
        "steps": int(weights.meta.get("global_step", 0) or 0),
        "store": None,
        "converted_from": {"file": Path(path).name, "format": weights.kind, **weights.meta},
    }
    return write_export(out, model, weights.arch, weights.scaling, 224, extra)
