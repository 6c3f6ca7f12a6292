"""Evaluate encoders on one task with its protocols; write the results table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.evaluate.encoders import EvalEncoder, load_eval_encoder, pyramid, scaling_from_images
from trainer.evaluate.features import extract
from trainer.evaluate.report import write_results

__all__ = ["TASKS", "evaluate", "open_task"]

#: task → (kind, default protocols)
TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "synthetic-landcover": ("classification", ("linear", "knn")),
    "synthetic-change": ("change", ("change",)),
    "eurosat": ("classification", ("linear", "knn")),
    "oscd": ("change", ("change",)),
    "bigearthnet": ("classification", ("linear",)),
}


def open_task(
    task: str,
    data: str,
    bands: tuple[str, ...],
    out: Path,
    seed: int = 0,
    multilabel: bool = False,
    options: dict[str, Any] | None = None,
) -> Any:
    """The dataset of ``task`` read with ``bands``; splits stored under ``out/splits``.
    ``options``: ``bigearthnet_classes`` (19 | 43), ``label_fraction``, ``val_cities``."""
    options = options or {}
    splits = out / "splits" / f"{task}.json"
    if task == "synthetic-landcover":
        from trainer.evaluate.synthetic import SyntheticLandcover

        return SyntheticLandcover(data, bands, splits, seed=seed, multilabel=multilabel)
    if task == "synthetic-change":
        from trainer.evaluate.synthetic import SyntheticChange

        return SyntheticChange(data, bands, splits, seed=seed)
    if task == "eurosat":
        from trainer.evaluate.readers import EuroSAT

        return EuroSAT(data, bands=bands, splits_file=splits)
    if task == "oscd":
        from trainer.evaluate.readers import OSCD

        if options.get("val_cities") is not None:
            val = int(options["val_cities"])
            return OSCD(
                data,
                bands=bands,
                splits_file=out / "splits" / f"oscd-val{val}.json",
                val_cities=val,
            )
        return OSCD(data, bands=bands, splits_file=splits)
    if task == "bigearthnet":
        from trainer.evaluate.readers.bigearthnet import BigEarthNet

        return BigEarthNet(
            data,
            bands=bands,
            classes=int(options.get("bigearthnet_classes", 19)),
            label_fraction=float(options.get("label_fraction", 1.0)),
            splits_file=splits,
        )
    raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")


def _read(ds: Any):  # -> Callable[[np.ndarray], np.ndarray]
    if hasattr(ds, "images"):
        return ds.images
    return lambda idx: np.stack([ds.image(int(i)) for i in idx])


def _labels(ds: Any, idx: np.ndarray) -> np.ndarray:
    if hasattr(ds, "labels"):
        return ds.labels(idx)
    return np.array([ds.label(int(i)) for i in idx], dtype=np.int64)


def _scaling(encoder: EvalEncoder, ds: Any, kind: str):  # -> BandScaling
    if encoder.scaling is not None:
        return encoder.scaling
    train = ds.indices("train")[:256]
    if kind == "change":  # the first date of a few pairs; sizes may differ (OSCD cities)
        task = scaling_from_images([ds.pair(int(i))[0] for i in train[:16]], tuple(ds.bands))
    else:
        task = scaling_from_images(_read(ds)(train), tuple(ds.bands))
    return encoder.scaling_for(task)


def evaluate(
    task: str,
    data: str,
    encoders: list[str],
    out: str | Path,
    protocols: tuple[str, ...] | None = None,
    size: int = 224,
    bands: tuple[str, ...] = ("B4", "B3", "B2"),
    device: str = "auto",
    seed: int = 0,
    multilabel: bool = False,
    change_steps: int = 300,
    encoder_arch: str | None = None,
    options: dict[str, Any] | None = None,
    log: Any = print,
) -> list[dict]:
    """Rows of ``(encoder, task, protocol, metric, value, n_train, n_val, n_test)``; also written
    to ``out/results.{csv,md,png}``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    kind, default = TASKS[task]
    protocols = protocols or default
    dev = torch.device(
        "cuda"
        if device == "auto" and torch.cuda.is_available()
        else ("cpu" if device == "auto" else device)
    )
    folder = Path(out)
    rows: list[dict] = []
    for spec in encoders:
        enc = load_eval_encoder(spec, bands, seed, encoder_arch)
        ds = open_task(task, data, enc.bands, folder, seed, multilabel, options)
        scaling = _scaling(enc, ds, kind)
        n = {f"n_{s}": int(ds.indices(s).size) for s in ("train", "val", "test")}
        log(f"{enc.name} on {task}: {n['n_train']} train, {n['n_val']} val, {n['n_test']} test")
        results: dict[str, dict[str, float]] = {}
        if kind == "classification":
            results = _classification(
                enc,
                ds,
                scaling,
                size,
                dev,
                protocols,
                multilabel or getattr(ds, "multilabel", False),
            )
        elif "change" in protocols:
            results["change"] = _change(enc, ds, scaling, dev, size, change_steps, seed)
        for protocol, metrics in results.items():
            rows += [
                {
                    "encoder": enc.name,
                    "task": task,
                    "protocol": protocol,
                    "metric": m,
                    "value": float(v),
                    **n,
                }
                for m, v in metrics.items()
            ]
    write_results(rows, folder)
    return rows


def _classification(
    enc: EvalEncoder,
    ds: Any,
    scaling: Any,
    size: int,
    dev: torch.device,
    protocols: tuple[str, ...],
    multilabel: bool,
) -> dict[str, dict[str, float]]:
    from trainer.evaluate.probe import Split, knn, linear_probe

    split = {}
    for s in ("train", "val", "test"):
        idx = ds.indices(s)
        split[s] = Split(extract(enc.model, _read(ds), idx, scaling, size, dev), _labels(ds, idx))
    n_out = len(ds.classes)
    results: dict[str, dict[str, float]] = {}
    if "linear" in protocols:
        name = "linear-multilabel" if multilabel else "linear"
        results[name] = linear_probe(split["train"], split["val"], split["test"], n_out, multilabel)
    if "knn" in protocols and not multilabel:
        results["knn"] = knn(split["train"], split["test"], n_out)
    if "finetune" in protocols:
        from trainer.evaluate.finetune import finetune

        results["finetune"] = finetune(enc, ds, scaling, size, dev)
    return results


def _change(
    enc: EvalEncoder, ds: Any, scaling: Any, dev: torch.device, size: int, steps: int, seed: int
) -> dict[str, float]:
    from trainer.evaluate.change import change_detection

    return change_detection(
        pyramid(enc), ds, scaling, dev, crop=min(size, 128), steps=steps, seed=seed
    )
