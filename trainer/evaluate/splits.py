"""Fixed evaluation splits, made once and stored as JSON so every evaluation sees the same one.

A split maps split names (``"train"``, ``"val"``, ``"test"``) to lists of item keys (EuroSAT
file stems, OSCD city names). On disk it is a small JSON object::

    {"format": "seco-split/1", "splits": {"train": [...], "val": [...], "test": [...]}}

(a bare ``{"train": [...], ...}`` mapping is read too, for hand-written files). Keys are
strings, unique within a split and never in two splits.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "SplitFileError",
    "validate_split",
    "read_split",
    "write_split",
    "stored_split",
    "stratified_split",
    "seeded_subset",
]

FORMAT = "seco-split/1"


class SplitFileError(ValueError):
    """A stored split is not valid JSON of the expected shape, or its keys overlap."""


def validate_split(split: Any, where: str = "split") -> dict[str, list[str]]:
    """Check that ``split`` maps names to lists of unique string keys, disjoint across splits;
    return it as a plain ``dict``. Raises :class:`SplitFileError` naming ``where``."""
    if not isinstance(split, Mapping) or not split:
        raise SplitFileError(f"{where}: expected a non-empty mapping split name -> list of keys")
    seen: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for name, keys in split.items():
        if not isinstance(name, str):
            raise SplitFileError(f"{where}: split name {name!r} is not a string")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise SplitFileError(f"{where}: split {name!r} is not a list of strings")
        for k in keys:
            if k in seen:
                raise SplitFileError(
                    f"{where}: key {k!r} appears in split {seen[k]!r} and again in {name!r}"
                )
            seen[k] = name
        out[name] = list(keys)
    return out


def read_split(path: Path) -> dict[str, list[str]]:
    """Read and validate the split stored at ``path``."""
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise SplitFileError(
            f"{path}: not valid JSON ({err}); delete it to make a new split"
        ) from err
    if isinstance(doc, dict) and "splits" in doc:
        if doc.get("format", FORMAT) != FORMAT:
            raise SplitFileError(
                f"{path}: format {doc.get('format')!r}, this code reads {FORMAT!r}"
            )
        doc = doc["splits"]
    return validate_split(doc, str(path))


def write_split(path: Path, split: Mapping[str, list[str]]) -> None:
    """Write ``split`` to ``path`` atomically (a temporary file in the same folder, then a rename),
    creating parent folders; readers never see a half-written file."""
    path = Path(path)
    data = validate_split(split, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, "splits": data}, indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stored_split(path: Path, make: Callable[[], dict[str, list[str]]]) -> dict[str, list[str]]:
    """The split stored at ``path`` if the file exists (validated), else ``make()``, written to
    ``path`` first. ``make`` must be deterministic, so that racing processes write the same file."""
    path = Path(path)
    if path.is_file():
        return read_split(path)
    split = validate_split(make(), "the split made for " + str(path))
    write_split(path, split)
    return split


def stratified_split(
    keys: Sequence[str],
    labels: Sequence[int] | Sequence[str],
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> dict[str, list[str]]:
    """Split ``keys`` into ``train``/``val``/``test`` with the given fractions within every class.

    Deterministic: the keys of each class are sorted, then permuted by one
    ``numpy.random.default_rng(seed)`` taken through the classes in sorted order; class ``c``
    with ``n`` keys gives ``round(0.6 n)`` to train, ``round(0.8 n) - round(0.6 n)`` to val and
    the rest to test (for the default fractions). The order of the inputs does not matter.
    Returned lists are sorted.
    """
    if len(keys) != len(labels):
        raise ValueError(f"{len(keys)} keys but {len(labels)} labels")
    if len(set(keys)) != len(keys):
        raise ValueError("keys repeat: a split needs unique keys")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or (fr < 0).any() or abs(fr.sum() - 1.0) > 1e-9:
        raise ValueError(f"fractions {fractions!r}: need three non-negative numbers summing to 1")
    by_class: dict[Any, list[str]] = {}
    for k, c in zip(keys, labels, strict=True):
        by_class.setdefault(c, []).append(k)
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for c in sorted(by_class):
        members = sorted(by_class[c])
        order = [members[j] for j in rng.permutation(len(members))]
        cut = np.rint(np.cumsum(fr) * len(members)).astype(int)
        cut[-1] = len(members)
        out["train"] += order[: cut[0]]
        out["val"] += order[cut[0] : cut[1]]
        out["test"] += order[cut[1] :]
    return {name: sorted(v) for name, v in out.items()}


def seeded_subset(keys: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """``n`` of ``keys`` chosen by ``default_rng(seed)`` from their sorted order; sorted."""
    if not 0 <= n <= len(keys):
        raise ValueError(f"cannot choose {n} of {len(keys)} keys")
    pool = sorted(keys)
    picked = np.random.default_rng(seed).choice(len(pool), size=n, replace=False)
    return sorted(pool[j] for j in picked)
