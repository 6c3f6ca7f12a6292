"""A run folder's pictures: a readable, labelled view grid and loss.png."""

from __future__ import annotations

import torch

from trainer.runlog import RunLog, view_grid


def test_view_grid_is_stretched_and_labelled():
    dark = {k: torch.rand(4, 3, 16, 16) * 0.1 for k in ("q", "k0", "k1", "k2")}
    grid = view_grid(dark, ("B4", "B3", "B2"))
    assert grid.shape[0] == 3 and grid.shape[2] == 4 * 18 + 2
    header, body = grid[:, :14], grid[:, 14:]
    assert body.mean() > 0.35  # 0.05 before the display stretch
    assert (header < 0.5).any() and header.mean() > 0.8  # dark letters on white


def test_loss_png_is_drawn_when_the_log_closes(tmp_path):
    log = RunLog(tmp_path, enabled=True)
    for step in range(1, 6):
        log.write({"step": step, "loss": 9.0 - step, "loss0": 3.0, "loss1": 3.0, "loss2": 3.0})
    log.close()
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
