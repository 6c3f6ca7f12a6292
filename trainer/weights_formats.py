"""Weights formats, recognised by a file's content, not by its name:

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
(``--encoder-arch``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["WeightsFormat", "FORMATS", "weights_format", "identify", "infer_resnet_arch"]

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
