"""Foreign encoder weights — an official SeCo checkpoint, a timm / torchvision / torchgeo state
dict (:mod:`trainer.weights_formats`) — read as a backbone in timm key names with its input
scaling (:mod:`trainer.weights_scaling`), built into a timm model or written as an export
folder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn as nn

from shared.layout.bands import RGB
from trainer.scaling import BandScaling
from trainer.weights import WeightsError, _short, read_weights_file
from trainer.weights_formats import (
    FORMAT_BY_NAME,
    FORMATS,
    _inner,
    infer_resnet_arch,
    weights_format,
)
from trainer.weights_scaling import seco_scaling

__all__ = ["ForeignWeights", "load_foreign", "export_foreign"]


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
