"""Overlap host→device copies with compute: the next batch crosses on a side CUDA stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch

__all__ = ["DevicePrefetcher"]


def _to(batch: dict[str, Any], device: torch.device, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if k in keys else v for k, v in batch.items()}


class DevicePrefetcher:
    """Yields ``loader``'s batches with the tensors named in ``keys`` on ``device``.

    On CUDA the copy of batch ``n + 1`` (pinned → device, non-blocking, on its own stream)
    runs while step ``n`` computes; elsewhere it is a plain ``.to(device)``. Other entries
    (step numbers, counters) stay on the host, so reading them never synchronises.
    """

    def __init__(
        self,
        loader: Iterable[dict[str, Any]],
        device: torch.device,
        keys: tuple[str, ...] = ("pixels",),
    ) -> None:
        self.loader = loader
        self.device = device
        self.keys = keys

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.device.type != "cuda":
            for batch in self.loader:
                yield _to(batch, self.device, self.keys)
            return
        stream = torch.cuda.Stream(device=self.device)
        it = iter(self.loader)

        def load() -> dict[str, Any] | None:
            batch = next(it, None)
            if batch is None:
                return None
            with torch.cuda.stream(stream):
                return _to(batch, self.device, self.keys)

        nxt = load()
        while nxt is not None:
            torch.cuda.current_stream(self.device).wait_stream(stream)
            for v in nxt.values():
                if isinstance(v, torch.Tensor) and v.is_cuda:
                    v.record_stream(torch.cuda.current_stream(self.device))
            current, nxt = nxt, load()
            yield current
