"""A PyTorch-ready ``Dataset`` over a store, for researchers with their own training code.

``SeasonalPatches`` is a map-style dataset (``__len__`` and ``__getitem__``) whose items hold
NumPy arrays, so ``shared`` never imports torch: a ``torch.utils.data.DataLoader`` takes it as
it is, and its default collate stacks the arrays into tensors. Each item is one location: all
(or chosen) seasons of the chosen bands, with its metadata.

>>> ds = SeasonalPatches("datasets/demo.zarr", bands="rgb")
>>> ds[0]["image"].shape         # (seasons, bands, H, W) float32 reflectance
(4, 3, 264, 264)
>>> batch = next(iter(DataLoader(ds, batch_size=8, collate_fn=SeasonalPatches.collate)))
>>> batch["image"].shape, batch["bands"]
(torch.Size([8, 4, 3, 264, 264]), ['B4', 'B3', 'B2'])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.access.sample import open_sample
from shared.layout.bands import resolve_bands
from shared.layout.native import RESAMPLING
from shared.store.handle import open_store
from shared.store.reader import StoreReader
from shared.store.summary import live_samples

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["SeasonalPatches"]


class SeasonalPatches:
    """Locations of a store as arrays, batched into tensors by a ``DataLoader``.

    bands: ``"rgb"``, ``"all"`` or names (``"B8,B4"``); seasons: ``None`` (all) or indices;
    reflectance: True gives float32 reflectance (DN / 10⁴), False the stored uint16 DN;
    transform: applied to the item dict before it is returned; resample: how 20/60 m bands of
    a layout-3 store reach the 10 m grid of ``image`` (``"nearest"`` or ``"bilinear"``);
    native: True gives ``image_10m``/``image_20m``/``image_60m`` (each group at its own
    resolution, ``size``, ``size/2``, ``size/6`` px) instead of ``image``.

    Item: ``image`` (S, C, H, W), ``cloud`` (S, H, W) uint8 (%), ``time`` (S,) int64 ms since
    1970 (UTC), ``lon``/``lat`` float, ``sample`` (index in the store), ``bands`` (names).
    Only finished samples are included; a synthetic store says so in ``synthetic``.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        bands: str | Sequence[str] = "rgb",
        seasons: Sequence[int] | None = None,
        reflectance: bool = True,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        resample: str = "nearest",
        native: bool = False,
    ) -> None:
        store = open_store(location)
        self.location = str(location)
        self.bands = resolve_bands(bands, store.spec.bands)
        self.seasons = (
            list(range(store.spec.n_seasons)) if seasons is None else [int(s) for s in seasons]
        )
        bad = [s for s in self.seasons if not 0 <= s < store.spec.n_seasons]
        if bad:
            raise ValueError(f"season(s) {bad} outside 0..{store.spec.n_seasons - 1}")
        if resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, got {resample!r}")
        self.resample, self.native = resample, bool(native)
        self.reflectance = reflectance
        self.transform = transform
        self.synthetic = store.synthetic
        self.samples = live_samples(store)  # refuses a finished shard with a missing object
        self._time = np.asarray(store.array("time")[:])
        self._lon = np.asarray(store.array("lon")[:])
        self._lat = np.asarray(store.array("lat")[:])
        self._reader: StoreReader | None = None  # opened in each worker process

    def __len__(self) -> int:
        return int(self.samples.size)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"] = None
        return state

    def open_sample(self, i: int) -> xr.Dataset:
        """Item ``i`` (this dataset's bands and seasons) as a georeferenced xarray Dataset.

        See :func:`shared.open_sample`: ``spatial_ref`` carries the sample's CRS and
        transform, so ``ds.rio.crs`` and ``ds.pixels.isel(season=0).rio.to_raster(…)`` work.
        """
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} outside 0..{len(self) - 1}")
        if self._reader is None:
            self._reader = StoreReader(self.location)
        return open_sample(
            self._reader.store,
            int(self.samples[i]),
            bands=self.bands,
            seasons=self.seasons,
            reader=self._reader,
        )

    @staticmethod
    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        """``DataLoader(ds, collate_fn=SeasonalPatches.collate)``: torch's default collate for
        every field but ``bands``, which stays one list of names (the same for every item;
        the default collate would transpose it into a list of tuples). torch is imported only
        here, when a DataLoader calls it."""
        from importlib import import_module

        default_collate = import_module("torch.utils.data").default_collate
        batch = default_collate([{k: v for k, v in it.items() if k != "bands"} for it in items])
        if items and "bands" in items[0]:
            batch["bands"] = list(items[0]["bands"])
        return dict(batch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} outside 0..{len(self) - 1}")
        if self._reader is None:
            self._reader = StoreReader(self.location)
        s = int(self.samples[i])
        images: dict[str, np.ndarray]
        if self.native:
            found = self._reader.native([s], seasons=self.seasons, bands=self.bands)[0]
            images = {f"image_{g}": a for g, a in found.arrays.items()}
        else:
            images = {
                "image": self._reader.pixels(
                    [s], seasons=self.seasons, bands=self.bands, resample=self.resample
                )[0]
            }
        scale = np.float32(1e-4)
        item = {
            **{
                k: a.astype(np.float32) * scale if self.reflectance else a
                for k, a in images.items()
            },
            "cloud": self._reader.cloud([s], seasons=self.seasons)[0],
            "time": self._time[s, self.seasons].astype(np.int64),
            "lon": float(self._lon[s]),
            "lat": float(self._lat[s]),
            "sample": s,
            "bands": list(self.bands),
        }
        return self.transform(item) if self.transform else item
