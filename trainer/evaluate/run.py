"""Evaluate encoders on one task with its protocols; write the results table.

Two settings: ``default`` (our faster protocols: L-BFGS linear probe with the weight decay
chosen on validation, kNN, a light change decoder with a tuned threshold, inputs resized to
``size``) and ``paper`` (the official SeCo settings per task, :mod:`trainer.evaluate.paper`).
Every metric comes with a 95 % bootstrap interval over the test items
(:mod:`trainer.evaluate.uncertainty`); runs of one configuration that differ only in their
pre-training seed are also summarised over seeds.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.validate import ConfigValueError, Range, check_value
from trainer.evaluate.encoders import EvalEncoder, load_eval_encoder, pyramid
from trainer.evaluate.features import extract
from trainer.evaluate.metrics import BinaryCounts
from trainer.evaluate.report import check_results_folder, write_results
from trainer.evaluate.tasks import (
    TASKS,
    check_splits,
    encoder_scaling,
    read_images,
    task_labels,
    task_named,
)
from trainer.evaluate.uncertainty import ROUNDS, bootstrap, change_metrics, scored, seed_interval

__all__ = ["TASKS", "SETTINGS", "default_out", "evaluate"]

SETTINGS = ("default", "paper")
#: protocol → (metrics, 95 % intervals)
Results = dict[str, tuple[dict[str, float], dict[str, tuple[float, float]]]]


def _unique_names(encs: list[EvalEncoder]) -> None:
    """Runs sharing a name (e.g. two seeds of one objective) get the seed, or a run number."""
    counts = Counter(e.name for e in encs)
    seen: Counter[str] = Counter()
    for e in encs:
        if counts[e.name] > 1:
            seen[e.name] += 1
            e.name = (
                f"{e.name}-seed{e.seed}" if e.seed is not None else f"{e.name}-run{seen[e.name]}"
            )
    if len({e.name for e in encs}) != len(encs):  # equal seeds: fall back to run numbers
        for k, e in enumerate(encs):
            e.name = f"{e.group}-run{k + 1}"


SAME = "random:same"


def _load_encoders(
    specs: list[str], bands: tuple[str, ...], seed: int, encoder_arch: str | None
) -> list[EvalEncoder]:
    """The encoders in command-line order; ``random:same`` takes the architecture of the
    first other encoder that is not random (resnet18 when there is none)."""
    loaded = {
        i: load_eval_encoder(s, bands, seed, encoder_arch) for i, s in enumerate(specs) if s != SAME
    }
    arch = next((e.arch for e in loaded.values() if e.kind != "random"), "resnet18")
    return [
        loaded[i] if s != SAME else load_eval_encoder(f"random:{arch}", bands, seed)
        for i, s in enumerate(specs)
    ]


def chance_level(ds: Any, kind: str, multilabel: bool) -> float | None:
    """The main metric of the best constant guess on the test split: the majority class's
    share (accuracy), the mean positive rate (micro mAP of a constant score), or the F1 of
    calling every pixel changed (change detection); None where it cannot be read."""
    try:
        test = ds.indices("test")
        if kind == "change":
            masks = [np.asarray(ds.pair(int(i))[2], bool) for i in test]
            p = float(np.mean(np.concatenate([m.ravel() for m in masks]))) if masks else 0.0
            return 2 * p / (1 + p) if p > 0 else 0.0
        labels = task_labels(ds, test)
        if multilabel or labels.ndim == 2:
            return float(np.asarray(labels, bool).mean())
        counts = np.bincount(np.asarray(labels, np.int64))
        return float(counts.max() / counts.sum()) if counts.sum() else None
    except Exception:  # a reader without labels at hand: no chance line
        return None


def default_out(encoders: list[str]) -> Path:
    """Where results go without ``--out``: ``<run>/eval`` beside the first encoder that is one
    of our run's checkpoint (``<run>/checkpoint.pt``) or export (``<run>/export``), else
    ``runs/eval``."""
    for spec in encoders:
        path = Path(spec)
        if (path.name == "checkpoint.pt" and path.is_file()) or (
            path.is_dir() and (path / "config.json").is_file()
        ):
            return path.parent / "eval"
    return Path("runs/eval")


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
    setting: str = "default",
    epochs: int = 100,
    rounds: int = ROUNDS,
    log: Any = print,
) -> list[dict]:
    """Rows of ``(encoder, task, protocol, setting, metric, value, ci_low, ci_high, runs,
    n_train, n_val, n_test)``; also written to ``out/results.{csv,md,png}``.

    Raises:
        ValueError: unknown task or setting, empty splits, unusable weights or data.
    """
    the_task = task_named(task)
    if setting not in SETTINGS:
        raise ValueError(f"unknown protocol setting {setting!r}: choose {' or '.join(SETTINGS)}")
    kind = the_task.kind
    protocols = protocols or the_task.protocols
    check_value("--size", size, int, Range(1, 8192))
    check_value("--bootstrap", rounds, int, Range(0, 10**6))
    check_value("--epochs", epochs, int, Range(1, 10**6))
    check_value("--change-steps", change_steps, int, Range(1, 10**9))
    check_results_folder(Path(out))
    dev = torch.device(
        "cuda"
        if device == "auto" and torch.cuda.is_available()
        else ("cpu" if device == "auto" else device)
    )
    folder = Path(out)
    encs = _load_encoders(encoders, bands, seed, encoder_arch)
    _unique_names(encs)
    rows: list[dict] = []
    chance: float | None = None
    for enc in encs:
        ds = the_task.open(data, enc.bands, folder, seed, multilabel, options)
        n = check_splits(task, data, ds)
        if chance is None:
            chance = chance_level(ds, kind, multilabel or getattr(ds, "multilabel", False))
        log(
            f"{enc.name} on {task} ({setting}): {n['n_train']} train, {n['n_val']} val, {n['n_test']} test"
        )
        ml = multilabel or getattr(ds, "multilabel", False)
        if setting == "paper":
            from trainer.evaluate.paper_run import paper_results

            results = paper_results(enc, ds, task, kind, dev, epochs, seed, rounds, ml)
        elif kind == "classification":
            scaling = encoder_scaling(enc, ds, kind)
            results = _classification(enc, ds, scaling, size, dev, protocols, ml, rounds, seed)
        else:
            scaling = encoder_scaling(enc, ds, kind)
            results = {"change": _change(enc, ds, scaling, dev, size, change_steps, seed, rounds)}
        if not results:
            raise ConfigValueError(
                "--protocols",
                f"{','.join(protocols)} gives no result on {task}"
                + (
                    " (knn is single-label only; this task is multi-label: use linear)"
                    if ml
                    else ""
                ),
            )
        for protocol, (metrics, intervals) in results.items():
            for m, v in metrics.items():
                low, high = intervals.get(m, (math.nan, math.nan))
                rows.append(
                    {
                        "encoder": enc.name,
                        "task": task,
                        "protocol": protocol,
                        "setting": setting,
                        "metric": m,
                        "value": float(v),
                        "ci_low": low,
                        "ci_high": high,
                        "runs": 1,
                        "chance": math.nan if chance is None else chance,
                        "group": enc.group,
                        **n,
                    }
                )
    rows += seed_rows(rows, rounds, seed)
    write_results([{k: v for k, v in r.items() if k != "group"} for r in rows], folder)
    return rows


def seed_rows(rows: list[dict], rounds: int = ROUNDS, seed: int = 0) -> list[dict]:
    """Where several runs share a group (one configuration, several pre-training seeds), one
    more row per metric: the mean over runs and its bootstrap interval over runs."""
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((r["group"], r["task"], r["protocol"], r["setting"], r["metric"]), []).append(
            r
        )
    out = []
    for (group, *_), members in by.items():
        names = {r["encoder"] for r in members}
        if len(names) < 2:
            continue
        mean, low, high = seed_interval([r["value"] for r in members], rounds, seed)
        first = members[0]
        out.append(
            first
            | {
                "encoder": f"{group} (mean of {len(names)} runs)",
                "value": mean,
                "ci_low": low,
                "ci_high": high,
                "runs": len(names),
            }
        )
    return out


def _classification(
    enc: EvalEncoder,
    ds: Any,
    scaling: Any,
    size: int,
    dev: torch.device,
    protocols: tuple[str, ...],
    multilabel: bool,
    rounds: int,
    seed: int,
) -> Results:
    from trainer.evaluate.probe import Split, knn_predict, linear_probe_logits

    split = {}
    for s in ("train", "val", "test"):
        idx = ds.indices(s)
        feats = extract(enc.model, read_images(ds), idx, scaling, size, dev, desc=f"{enc.name} {s}")
        split[s] = Split(feats, task_labels(ds, idx))
    n_out = len(ds.classes)
    results: Results = {}
    y = split["test"].y
    if "linear" in protocols:
        name = "linear-multilabel" if multilabel else "linear"
        logits, wd = linear_probe_logits(
            split["train"], split["val"], split["test"], n_out, multilabel
        )
        metrics, ci = scored(y, logits, multilabel, n_out, rounds, seed)
        results[name] = (metrics | {"weight_decay": wd}, ci)
    if "knn" in protocols and not multilabel:
        pred = knn_predict(split["train"], split["test"], n_out)
        results["knn"] = scored(y, pred, False, n_out, rounds, seed)
    if "finetune" in protocols:
        if multilabel:
            raise ValueError("--protocols finetune is single-label only; use linear here")
        from trainer.evaluate.finetune import finetune

        results["finetune"] = (finetune(enc, ds, scaling, size, dev), {})
    return results


def _change(
    enc: EvalEncoder,
    ds: Any,
    scaling: Any,
    dev: torch.device,
    size: int,
    steps: int,
    seed: int,
    rounds: int,
) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    from trainer.evaluate.change import change_detection

    per_pair: list[BinaryCounts] = []
    metrics = change_detection(
        pyramid(enc),
        ds,
        scaling,
        dev,
        crop=min(size, 128),
        steps=steps,
        seed=seed,
        per_pair=per_pair,
    )
    return metrics, bootstrap(change_metrics(per_pair), len(per_pair), rounds, seed)
