"""What a run folder says about itself: ``run.toml``, ``log.csv`` and TensorBoard.

- ``run.toml``: the full resolved configuration, one line per setting, readable back with
  ``--config run.toml`` (settings left unset, such as ``lr``, appear as comments with the
  value they resolved to).
- ``log.csv``: one row per logged step, each step exactly once however often the run was
  resumed (rows the last checkpoint does not cover are dropped on resume, then rewritten).
- TensorBoard (``tensorboard/``): the hyper-parameters (hparams plugin), the configuration as
  text, every logged scalar (losses, per-subspace contrastive top-1 accuracy, learning rate,
  throughput), and a grid of the views each objective trains on (rows: locations; columns:
  ``q, k0, k1, k2`` for SeCo) at the start and at every checkpoint. On resume, events after
  the checkpoint's step are purged (``SummaryWriter(purge_step=…)``).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from trainer.config import PretrainConfig

__all__ = ["RunLog", "RUN_TOML", "LOG_CSV", "run_toml", "write_run_toml", "view_grid"]

RUN_TOML = "run.toml"
LOG_CSV = "log.csv"
#: locations shown in the view grid
GRID_LOCATIONS = 4


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def run_toml(cfg: PretrainConfig, resolved: dict[str, Any] | None = None) -> str:
    """The configuration as a flat TOML table; ``resolved`` gives, for settings left unset
    (``None``), the value the run derived for them (written as a comment)."""
    lines = [
        "# The full configuration of this run (python -m trainer pretrain --config run.toml).",
    ]
    resolved = resolved or {}
    for name, value in cfg.to_dict().items():
        if value is None:
            note = f" (resolved: {resolved[name]})" if name in resolved else ""
            lines.append(f"# {name} is unset{note}")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_run_toml(cfg: PretrainConfig, out: Path, resolved: dict[str, Any]) -> Path:
    """Write ``run.toml`` into the run folder ``out``; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUN_TOML
    _write_atomic(path, run_toml(cfg, resolved))
    return path


def _display_channels(bands: tuple[str, ...]) -> list[int]:
    if all(b in bands for b in ("B4", "B3", "B2")):
        return [bands.index(b) for b in ("B4", "B3", "B2")]
    return [0, 1, 2] if len(bands) >= 3 else [0, 0, 0]


def view_grid(
    views: dict[str, torch.Tensor], bands: tuple[str, ...], n: int = GRID_LOCATIONS
) -> torch.Tensor:
    """``(3, H, W)`` float image in [0, 1]: rows = the first ``n`` locations, columns = the
    views in their order (``q, k0, k1, k2`` for SeCo), true colour when B4, B3, B2 are among
    ``bands``, else the first three bands (or the first band as grey).

    views: name → ``(B, C, h, w)`` in [0, 1] (before standardisation), all the same size.
    """
    from torchvision.utils import make_grid

    channels = _display_channels(bands)
    names = list(views)
    rows = min(n, next(iter(views.values())).shape[0])
    tiles = [
        views[k][i, channels].detach().float().clamp(0, 1).cpu() for i in range(rows) for k in names
    ]
    return make_grid(torch.stack(tiles), nrow=len(names), padding=2, pad_value=1.0)


def _trim_csv(path: Path, fields: tuple[str, ...], last_step: int) -> None:
    """Keep only the rows of ``path`` with ``step <= last_step`` (rewritten with ``fields``)."""
    kept: list[dict[str, str]] = []
    if path.exists() and last_step > 0:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    step = int(row.get("step") or -1)
                except ValueError:
                    continue
                if 0 < step <= last_step:
                    kept.append(row)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(kept)
    os.replace(tmp, path)


class RunLog:
    """TensorBoard and ``log.csv`` of a run, written by the main process only."""

    FIELDS = (
        "step",
        "epoch",
        "loss",
        "loss0",
        "loss1",
        "loss2",
        "acc0",
        "acc1",
        "acc2",
        "lr",
        "locations_per_s",
        "skipped",
    )

    def __init__(self, out: Path, enabled: bool, first_step: int = 0) -> None:
        """Open the logs of the run in ``out`` that (re)starts after step ``first_step``."""
        self.enabled = enabled
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        out.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=first_step)
        path = out / LOG_CSV
        _trim_csv(path, self.FIELDS, first_step)
        self.file = path.open("a", newline="")
        self.csv = csv.DictWriter(self.file, fieldnames=self.FIELDS)

    def describe(self, cfg: PretrainConfig, resolved: dict[str, Any], step: int) -> None:
        """The configuration as text and as hyper-parameters (resolved values for unset
        settings), so that runs compare side by side in TensorBoard's HPARAMS tab."""
        if not self.enabled:
            return
        from torch.utils.tensorboard.summary import hparams

        self.writer.add_text("config", "```toml\n" + run_toml(cfg, resolved) + "```", step)
        values = {k: resolved.get(k, v) for k, v in cfg.to_dict().items()}
        hp = {k: ("unset" if v is None else v) for k, v in values.items()}
        metrics = {f"pretrain/{k}": 0.0 for k in ("loss", "acc0", "acc1", "acc2")}
        file_writer = self.writer.file_writer  # None only after close()
        if file_writer is not None:
            for summary in hparams(hp, metrics):
                file_writer.add_summary(summary, step)

    def views(self, step: int, views: dict[str, torch.Tensor], bands: tuple[str, ...]) -> None:
        """A grid of the first locations' views at ``step`` (``views``: see :func:`view_grid`)."""
        if self.enabled:
            self.writer.add_image("views", view_grid(views, bands), step)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.csv.writerow({k: row.get(k, "") for k in self.FIELDS})
        self.file.flush()
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)):
                self.writer.add_scalar(f"pretrain/{k}", v, row["step"])

    def close(self) -> None:
        if self.enabled:
            self.writer.close()
            self.file.close()
