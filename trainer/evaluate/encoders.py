"""Encoders under evaluation, named on the command line (``--encoder``, repeatable):

* a file, recognised by its content (:mod:`trainer.weights_formats`): our training checkpoint, an
  official SeCo Lightning checkpoint, a timm / torchvision / torchgeo ResNet state dict;
* an export folder (``config.json`` + ``model.safetensors``);
* ``imagenet:<timm arch>`` (timm's ImageNet weights; ``imagenet:<arch>=<file>`` offline);
* ``random`` / ``random:<timm arch>`` (``random`` is ``random:resnet18``); ``random:same`` is
  the architecture of the other encoders evaluated with it (resolved by
  :func:`trainer.evaluate.run.evaluate`).

Pre-trained encoders of ours bring the band scaling of their pre-training store (the same
normalisation downstream as during pre-training); published SeCo weights bring SeCo's. ImageNet
and other foreign weights bring their mean/std in [0, 1] units, and the [0, 1] range comes from
the task's training images (2nd–98th percentile per band); a random encoder is scaled entirely
with statistics of the task's training images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn as nn

from trainer.export import CONFIG, encoder_from_checkpoint, load_encoder
from trainer.objectives import OBJECTIVES
from trainer.scaling import BandScaling
from trainer.weights import read_weights_file
from trainer.weights_foreign import build_model, load_foreign
from trainer.weights_formats import weights_format
from trainer.weights_imagenet import imagenet_encoder
from trainer.weights_scaling import IMAGENET_MEAN, IMAGENET_STD, unit_scaling

__all__ = ["EvalEncoder", "load_eval_encoder", "scaling_from_images", "pyramid"]


@dataclass
class EvalEncoder:
    """A frozen feature extractor and how to feed it."""

    name: str
    arch: str
    model: nn.Module
    bands: tuple[str, ...]
    scaling: BandScaling | None  # None: derive from the task's training images
    #: with ``scaling`` None: mean/std in [0, 1] units (ImageNet's), the range from the task
    unit_stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    kind: str = "random"  # checkpoint | export | seco-lightning | state-dict | imagenet | random
    group: str = ""  # runs that differ only in their seed share a group (see run.py)
    seed: int | None = None  # pre-training seed, where known

    def __post_init__(self) -> None:
        self.group = self.group or self.name

    def scaling_for(self, task_scaling: BandScaling) -> BandScaling:
        """The scaling to use, given one derived from the task's training images."""
        if self.scaling is not None:
            return self.scaling
        if self.unit_stats is not None:
            mean, std = self.unit_stats
            return unit_scaling(self.bands, task_scaling.p2, task_scaling.p98, mean, std)
        return task_scaling


def load_eval_encoder(
    spec: str, bands: tuple[str, ...], seed: int = 0, arch: str | None = None
) -> EvalEncoder:
    """An encoder from its command-line spec (see the module docstring); ``arch`` is
    ``--encoder-arch`` for foreign weights whose architecture cannot be inferred.

    Raises:
        FileNotFoundError: a path that does not exist.
        trainer.weights.WeightsError: weights that cannot be read or used.
    """
    if spec.startswith("imagenet:"):
        model, name, mean, std = imagenet_encoder(spec)
        rgb = ("B4", "B3", "B2")
        return EvalEncoder(f"imagenet-{name}", name, model, rgb, None, (mean, std), "imagenet")
    if spec == "random" or spec.startswith("random:"):
        arch = spec.partition(":")[2] or "resnet18"
        if not timm.is_model(arch):
            raise ValueError(f"unknown timm architecture {arch!r}")
        torch.manual_seed(seed)
        model = timm.create_model(arch, pretrained=False, num_classes=0, in_chans=len(bands))
        return EvalEncoder(f"random-{arch}", arch, model.eval(), tuple(bands), None)
    path = Path(spec)
    if path.is_dir() and (path / CONFIG).is_file():
        model, scaling, meta = load_encoder(path)
        name = export_label(meta, path.name)
        return EvalEncoder(
            name, meta["architecture"], model, scaling.bands, scaling, None, "export"
        )
    if path.is_file():
        return _from_file(path, bands, arch)
    raise FileNotFoundError(
        f"encoder {spec!r}: no checkpoint, weights file or export folder there, and not "
        f"imagenet:<arch> or random[:<arch>]"
    )


def export_label(meta: dict[str, Any], folder: str) -> str:
    """What an export's weights are, from its ``config.json``: ``<objective>-<architecture>``
    (the label its checkpoint gets), ``seco-published-<arch>`` for converted SeCo weights, the
    folder name beside the architecture otherwise."""
    arch = str(meta.get("architecture", ""))
    objective = meta.get("objective")
    if objective in OBJECTIVES:  # one of ours
        return f"{objective}-{arch}"
    if isinstance(objective, str) and objective.startswith("seco (published"):
        return f"seco-published-{arch}"
    return f"{folder}-{arch}" if arch and arch not in folder else folder


def _from_file(path: Path, bands: tuple[str, ...], arch: str | None) -> EvalEncoder:
    obj: Any = read_weights_file(path)
    fmt = weights_format(obj)
    if fmt is not None and fmt.ours:
        del obj  # read again by the checkpoint module, which owns its integrity checks
        model, scaling, cfg = encoder_from_checkpoint(path)
        name = f"{cfg['objective']}-{cfg['arch']}"
        seed = cfg.get("seed")
        return EvalEncoder(
            name, cfg["arch"], model, scaling.bands, scaling, None, "checkpoint", name, seed
        )
    weights = load_foreign(path, arch, bands, obj)
    model = build_model(weights)
    stem = path.stem if path.stem not in ("model", "checkpoint") else path.parent.name
    unit = None if weights.scaling is not None else (IMAGENET_MEAN, IMAGENET_STD)
    return EvalEncoder(
        stem, weights.arch, model, weights.bands, weights.scaling, unit, weights.kind, stem
    )


def scaling_from_images(
    images: np.ndarray | list[np.ndarray], bands: tuple[str, ...]
) -> BandScaling:
    """Band scaling from DN images, (n, C, H, W) or a list of (C, H_i, W_i) of any sizes
    (pixels with DN 0 ignored)."""
    per_band = np.concatenate(
        [np.asarray(im).reshape(len(bands), -1) for im in images], axis=1
    ).astype(np.float64)
    stats = []
    for values in per_band:
        v = values[values > 0] if np.any(values > 0) else values
        stats.append((np.percentile(v, 2), np.percentile(v, 98), v.mean(), v.std()))
    p2, p98, mean, std = (tuple(float(s[k]) for s in stats) for k in range(4))
    return BandScaling(tuple(bands), p2, p98, mean, std)


def pyramid(encoder: EvalEncoder) -> nn.Module:
    """The same weights as a multi-scale feature extractor (timm ``features_only``)."""
    net = timm.create_model(
        encoder.arch, pretrained=False, features_only=True, in_chans=len(encoder.bands)
    )
    missing, _unexpected = net.load_state_dict(encoder.model.state_dict(), strict=False)
    if missing:
        raise ValueError(
            f"{encoder.name}: {len(missing)} feature weights missing (e.g. {missing[0]})"
        )
    return net.eval()
