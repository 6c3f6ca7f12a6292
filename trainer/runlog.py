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

__all__ = [
    "RunLog",
    "RUN_TOML",
    "LOG_CSV",
    "plot_losses",
    "run_toml",
    "write_run_toml",
    "view_grid",
]

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
    tiles = torch.stack(
        [
            views[k][i, channels].detach().float().clamp(0, 1).cpu()
            for i in range(rows)
            for k in names
        ]
    )
    tiles = _stretch(tiles)
    grid = make_grid(tiles, nrow=len(names), padding=2, pad_value=1.0)
    return _with_header(grid, names, tiles.shape[-1] + 2)


def _stretch(tiles: torch.Tensor) -> torch.Tensor:
    """Display contrast: each channel from its 1st to 99th percentile over all tiles to [0, 1]
    (the training views are in [0, 1] after the store's 2–98 % stretch, which leaves most
    land dark), so that the grid is readable."""
    flat = tiles.transpose(0, 1).reshape(tiles.shape[1], -1)
    low = torch.quantile(flat, 0.01, dim=1).view(1, -1, 1, 1)
    high = torch.quantile(flat, 0.99, dim=1).view(1, -1, 1, 1)
    return ((tiles - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)


def _with_header(grid: torch.Tensor, names: list[str], column: int) -> torch.Tensor:
    """``grid`` under a white strip naming each column (``q``, ``k0``, ``k1``, ``k2``)."""
    import numpy as np
    from PIL import Image, ImageDraw

    height = 14
    _, h, w = grid.shape
    canvas = Image.new("RGB", (w, h + height), "white")
    image = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    canvas.paste(Image.fromarray(image), (0, height))
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(names):
        draw.text((j * column + column // 2 - 3 * len(name), 1), name, fill=(0, 0, 0))
    out = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0)
    return out.permute(2, 0, 1).contiguous()


def plot_losses(folder: Path) -> Path | None:
    """``loss.png`` in the run folder from its ``log.csv``: the total loss and each subspace's
    loss against the step; None when the log holds no step yet."""
    import pandas as pd

    path = folder / LOG_CSV
    if not path.exists():
        return None
    log = pd.read_csv(path)
    log = log[pd.to_numeric(log.get("loss"), errors="coerce").notna()]
    if log.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for key, style in (("loss", "-"), ("loss0", ":"), ("loss1", ":"), ("loss2", ":")):
        values = pd.to_numeric(log.get(key), errors="coerce")
        if values is not None and values.notna().any():
            ax.plot(log["step"], values, style, label=key, linewidth=1.4 if key == "loss" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel("contrastive loss")
    ax.set_title(f"pre-training loss: {folder.name}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = folder / "loss.png"
    tmp = folder / "loss.png.tmp"
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    os.replace(tmp, out)
    return out


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
        self.out = out
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
        """Close the logs and draw ``loss.png`` (:func:`plot_losses`) in the run folder."""
        if self.enabled:
            self.writer.close()
            self.file.close()
            try:
                plot_losses(self.out)
            except (OSError, ValueError, KeyError) as e:  # a picture never fails a run
                print(f"warning: loss.png not drawn: {e}")
