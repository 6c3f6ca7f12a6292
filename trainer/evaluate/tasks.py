"""The evaluation tasks: their kind, default protocols and how to open their data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["TASKS", "open_task", "EmptySplitError", "check_splits"]

#: task → (kind, default protocols)
TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "synthetic-landcover": ("classification", ("linear", "knn")),
    "synthetic-season": ("classification", ("linear", "knn")),
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
    ``options``: ``bigearthnet_classes`` (19 | 43), ``label_fraction``, ``val_cities``,
    ``storage_options`` (a store on object storage)."""
    options = options or {}
    remote = options.get("storage_options")
    splits = out / "splits" / f"{task}.json"
    if task == "synthetic-landcover":
        from trainer.evaluate.synthetic import SyntheticLandcover

        return SyntheticLandcover(
            data, bands, splits, seed=seed, multilabel=multilabel, storage_options=remote
        )
    if task == "synthetic-season":
        from trainer.evaluate.synthetic import SyntheticSeason

        return SyntheticSeason(data, bands, splits, seed=seed, storage_options=remote)
    if task == "synthetic-change":
        from trainer.evaluate.synthetic import SyntheticChange

        return SyntheticChange(data, bands, splits, seed=seed, storage_options=remote)
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
