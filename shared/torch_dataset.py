"""Kept for old imports: :class:`SeasonalPatches` lives in :mod:`shared.access.torch_dataset`."""

from shared.access.torch_dataset import SeasonalPatches

__all__ = ["SeasonalPatches"]
