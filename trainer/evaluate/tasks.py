"""The evaluation tasks as records: their kind, default protocols and how to open their data.

Add a task by writing its opener (``(TaskInputs) → dataset``) and one :class:`Task` in
:data:`TASKS`; callers ask the record (``task_named(name).kind``), never compare names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.validate import check_choice

__all__ = [
    "Task",
    "TaskInputs",
    "TASKS",
    "task_named",
    "EmptySplitError",
    "check_splits",
    "read_images",
    "task_labels",
    "encoder_scaling",
]


@dataclass(frozen=True)
class TaskInputs:
    """What an opener gets: the data, the bands to read, where splits are stored, options
    (``bigearthnet_classes`` 19 | 43, ``label_fraction``, ``val_cities``, ``storage_options``:
    a store on object storage)."""

    name: str
    data: str
    bands: tuple[str, ...]
    out: Path
    seed: int = 0
    multilabel: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def remote(self) -> dict[str, Any] | None:
        """Storage options of a store on object storage (``options["storage_options"]``)."""
        return self.options.get("storage_options")

    @property
    def splits(self) -> Path:
        """The task's split file under ``out/splits``."""
        return self.out / "splits" / f"{self.name}.json"


@dataclass(frozen=True)
class Task:
    """One evaluation task: ``kind`` (``classification`` | ``change``), its default protocols,
    and ``opener`` building its dataset (items, splits, labels) from :class:`TaskInputs`."""

    name: str
    kind: str
    protocols: tuple[str, ...]
    opener: Callable[[TaskInputs], Any]

    def open(
        self,
        data: str,
        bands: tuple[str, ...],
        out: Path,
        seed: int = 0,
        multilabel: bool = False,
        options: dict[str, Any] | None = None,
    ) -> Any:
        """The task's dataset read with ``bands``; splits stored under ``out/splits``."""
        return self.opener(TaskInputs(self.name, data, bands, out, seed, multilabel, options or {}))


def _synthetic_landcover(t: TaskInputs) -> Any:
    from trainer.evaluate.synthetic import SyntheticLandcover

    return SyntheticLandcover(t.data, t.bands, t.splits, t.seed, t.remote, multilabel=t.multilabel)


def _synthetic_season(t: TaskInputs) -> Any:
    from trainer.evaluate.synthetic import SyntheticSeason

    return SyntheticSeason(t.data, t.bands, t.splits, t.seed, t.remote)


def _synthetic_change(t: TaskInputs) -> Any:
    from trainer.evaluate.synthetic import SyntheticChange

    return SyntheticChange(t.data, t.bands, t.splits, t.seed, t.remote)


def _eurosat(t: TaskInputs) -> Any:
    from trainer.evaluate.readers import EuroSAT

    return EuroSAT(t.data, bands=t.bands, splits_file=t.splits)


def _oscd(t: TaskInputs) -> Any:
    from trainer.evaluate.readers import OSCD

    if t.options.get("val_cities") is None:
        return OSCD(t.data, bands=t.bands, splits_file=t.splits)
    val = int(t.options["val_cities"])
    splits = t.out / "splits" / f"{t.name}-val{val}.json"
    return OSCD(t.data, bands=t.bands, splits_file=splits, val_cities=val)


def _bigearthnet(t: TaskInputs) -> Any:
    from trainer.evaluate.readers.bigearthnet import BigEarthNet

    return BigEarthNet(
        t.data,
        bands=t.bands,
        classes=int(t.options.get("bigearthnet_classes", 19)),
        label_fraction=float(t.options.get("label_fraction", 1.0)),
        splits_file=t.splits,
    )


_CLASSIFY = ("linear", "knn")
#: every task by name
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("synthetic-landcover", "classification", _CLASSIFY, _synthetic_landcover),
        Task("synthetic-season", "classification", _CLASSIFY, _synthetic_season),
        Task("synthetic-change", "change", ("change",), _synthetic_change),
        Task("eurosat", "classification", _CLASSIFY, _eurosat),
        Task("oscd", "change", ("change",), _oscd),
        Task("bigearthnet", "classification", ("linear",), _bigearthnet),
    )
}


def task_named(name: str) -> Task:
    """The task called ``name``; a ValueError naming the choices for any other name."""
    return TASKS[check_choice("task", name, TASKS)]


class EmptySplitError(ValueError):
    """A split the protocol needs holds no item."""


def check_splits(task: str, data: str, ds: Any) -> dict[str, int]:
    """``{"n_train": …, "n_val": …, "n_test": …}``; raises :class:`EmptySplitError` when the
    training or the test split is empty (validation may be: it only tunes the probe)."""
    n = {f"n_{s}": int(ds.indices(s).size) for s in ("train", "val", "test")}
    for split in ("train", "test"):
        if n[f"n_{split}"] == 0:
            raise EmptySplitError(
                f"{task}: the {split} split of {data} is empty ({n['n_train']} train, "
                f"{n['n_val']} val, {n['n_test']} test); check the split lists or the data"
            )
    classes = getattr(ds, "classes", None)
    if classes is not None and not getattr(ds, "multilabel", False) and len(classes) < 2:
        raise EmptySplitError(
            f"{task}: {data} holds {len(classes)} class(es); classification needs at least 2 "
            "(a score on one class says nothing)"
        )
    return n


def read_images(ds: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``idx → (n, C, H, W)`` DN images of a task's dataset (batched where it can)."""
    if hasattr(ds, "images"):
        return ds.images
    return lambda idx: np.stack([ds.image(int(i)) for i in idx])


def task_labels(ds: Any, idx: np.ndarray) -> np.ndarray:
    """(n,) class indices or (n, K) bool multi-hot labels of the items ``idx``."""
    if hasattr(ds, "labels"):
        return np.asarray(ds.labels(idx))
    return np.array([ds.label(int(i)) for i in idx], dtype=np.int64)


def encoder_scaling(encoder: Any, ds: Any, kind: str) -> Any:  # (EvalEncoder, …) -> BandScaling
    """The encoder's own scaling, or one completed from the task's training images."""
    from trainer.evaluate.encoders import scaling_from_images

    if encoder.scaling is not None:
        return encoder.scaling
    train = ds.indices("train")[:256]
    if kind == "change":  # the first date of a few pairs; sizes may differ (OSCD cities)
        task = scaling_from_images([ds.pair(int(i))[0] for i in train[:16]], tuple(ds.bands))
    else:
        task = scaling_from_images(read_images(ds)(train), tuple(ds.bands))
    return encoder.scaling_for(task)
