"""Encoder weights files read without executing code.

A weights *file* is read with ``torch.load(weights_only=True)`` (or safetensors) and told apart
by what it holds, not by its name (:mod:`trainer.weights_formats`). Lightning pickles
``hyper_parameters`` as ``AttributeDict`` or ``argparse.Namespace``: these, and nothing else,
are allow-listed (the first read as a plain dict), so a checkpoint is readable without
pytorch-lightning and can run no code.

Beside this module: :mod:`trainer.weights_formats` (what a file holds),
:mod:`trainer.weights_scaling` (the input scaling that travels with weights),
:mod:`trainer.weights_foreign` (published SeCo weights and state dicts, loaded or exported) and
:mod:`trainer.weights_imagenet` (timm's ImageNet encoders).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

__all__ = ["WeightsError", "read_weights_file"]


class WeightsError(ValueError):
    """A weights file that cannot be read or used as asked (one line says why)."""


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
