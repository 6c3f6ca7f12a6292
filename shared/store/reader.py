"""Fast NumPy reads of the image arrays (``pixels``, ``cloud``) that decode only what is asked.

Layout 3 keeps each resolution group in its own array (``pixels_10m``, ``pixels_20m``,
``pixels_60m``): :meth:`StoreReader.native` returns them as they are stored and
:meth:`StoreReader.pixels` returns every band on the 10 m grid (20/60 m bands upsampled,
nearest by default or bilinear), as layouts 1–2 store them.

Each sharded image array is read by :class:`~shared.store.image_array.ImageArray`: just the
byte ranges of the requested images, decoded straight into the output array. Decoders
release the GIL, so ``threads > 1`` scales. An array whose codec chain that fast path does not
know is read through zarr-python, so the reader is never wrong, only sometimes slower.

An absent shard object normally means "all fill values" (zarr leaves empty shards out). In a
finished shard whose manifest lists the object it means damage: the reader raises
:class:`~shared.store.manifests.DamagedShardError` naming the shard and the array. The check runs
only when an object is absent, so reading present objects costs nothing extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from typing import Any

import numpy as np

from shared.layout.array_names import image_arrays
from shared.layout.native import FACTOR, RESAMPLING, BandImages, group_bands, upsample
from shared.store.handle import Store, open_store
from shared.store.image_array import ImageArray
from shared.store.location import DEFAULT_IN_FLIGHT, byte_source
from shared.store.manifests import (
    Damage,
    DamagedShardError,
    damage_message,
    manifest_key,
    manifest_shards,
    read_manifest,
)
from shared.store.shards import ChunkReadError, shard_layout

__all__ = ["StoreReader", "ChunkReadError"]


class StoreReader:
    """Reads ``pixels`` and ``cloud`` of a store as NumPy arrays, decoding only what is asked.

    >>> r = StoreReader("datasets/demo.zarr")
    >>> x = r.pixels([0, 5], seasons=[0, 2, 3], bands=["B4", "B3", "B2"])  # (2, 3, 3, 264, 264)
    >>> n = r.native([0], bands=["B4", "B5", "B1"])  # arrays["10m"] (1, 4, 1, 264, 264),
    >>> # arrays["20m"] (1, 4, 1, 132, 132), arrays["60m"] (1, 4, 1, 44, 44)

    ``seasons`` may also be an ``(n, s)`` array giving each sample its own seasons.
    ``threads`` > 1 decodes in parallel (the codecs release the GIL). ``max_in_flight``: range
    requests kept in flight at once on object storage (1: one after another).
    """

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        threads: int = 1,
        cache_shards: int = 1024,
        storage_options: dict[str, Any] | None = None,
        max_in_flight: int = DEFAULT_IN_FLIGHT,
    ) -> None:
        from shared.validate import Range, check_value

        check_value("max_in_flight", max_in_flight, int, Range(1, 4096))
        self.store = store if isinstance(store, Store) else open_store(store, "r", storage_options)
        self.spec = self.store.spec
        self.threads = max(int(threads), 1)
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        src = self._src = byte_source(self.store.location, self.store.raw, max_in_flight)
        self._arrays: dict[str, ImageArray | None] = {}
        #: True for layout 3: bands are stored at their native resolutions
        self.native_layout = self.store.layout_version >= 3
        for name in image_arrays(self.spec, self.store.layout_version):
            layout = shard_layout(self.store.array(name))
            self._arrays[name] = (
                None
                if layout is None
                else ImageArray(layout, src, cache_shards, on_absent=self._absent)
            )
        self._done: np.ndarray | None = None
        self._manifests: set[int] | None = None
        self._manifest_lock = Lock()

    def _absent(self, key: str, shard: int) -> None:
        """An image shard object is absent: raise if its finished shard's manifest lists it."""
        with self._manifest_lock:
            if self._done is None:
                self._done = self.store.done_shards()
                self._manifests = manifest_shards(self.store)
        if not self._done[shard] or not self._manifests:
            return  # unfinished, or a store written before manifests existed
        manifest = read_manifest(self.store, shard) if shard in self._manifests else None
        if manifest is None:
            damage = Damage(shard, "", manifest_key(shard), "manifest")
        elif key in manifest["objects"]:
            damage = Damage(shard, key.split("/", 1)[0], key, "missing")
        else:
            return  # never written: every image of the shard is fill
        raise DamagedShardError(damage_message(self.store, [damage]))

    def close(self) -> None:
        """Stop the decode threads and close the files kept open."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        close = getattr(self._src, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fast(self) -> bool:
        """True when both image arrays are read by the fast path."""
        return all(a is not None for a in self._arrays.values())

    @property
    def chunks_read(self) -> int:
        """Image chunks fetched and decoded so far by the fast path."""
        return sum(a.chunks_read for a in self._arrays.values() if a is not None)

    def band_indices(self, bands: Sequence[str | int] | None) -> np.ndarray:
        """Positions of band names (or indices) in the store's band axis."""
        if bands is None:
            return np.arange(self.spec.n_bands)
        out = []
        for b in bands:
            if isinstance(b, (int, np.integer)):
                if not 0 <= int(b) < self.spec.n_bands:
                    raise IndexError(f"band index {b} outside 0..{self.spec.n_bands - 1}")
                out.append(int(b))
            elif b in self.spec.bands:
                out.append(self.spec.bands.index(b))
            else:
                raise KeyError(f"band {b!r} not in store bands {list(self.spec.bands)}")
        return np.asarray(out, dtype=np.int64)

    def _seasons(self, n: int, seasons: Sequence[int] | np.ndarray | None) -> np.ndarray:
        if seasons is None:
            sel = np.broadcast_to(np.arange(self.spec.n_seasons), (n, self.spec.n_seasons))
        else:
            arr = np.asarray(seasons, dtype=np.int64)
            sel = np.broadcast_to(arr, (n, arr.shape[-1])) if arr.ndim == 1 else arr
            if sel.shape[0] != n:
                raise ValueError(f"seasons has {sel.shape[0]} rows for {n} samples")
        if sel.size and (sel.min() < 0 or sel.max() >= self.spec.n_seasons):
            raise IndexError(f"season index outside 0..{self.spec.n_seasons - 1}")
        return sel

    def _samples(self, samples: int | Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.atleast_1d(np.asarray(samples, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= self.spec.n_samples):
            raise IndexError(f"sample index outside 0..{self.spec.n_samples - 1}")
        return idx

    def _run(self, arr: ImageArray, items: Sequence[tuple[tuple[int, ...], np.ndarray]]) -> None:
        if self._pool is None or len(items) < 2 or hasattr(arr.src, "read_many"):
            arr.read_items(items, self._pool)  # concurrent requests, then parallel decoding
            return
        # split by sample so that one sample's adjacent ranges stay in one merged read
        groups: dict[int, list[tuple[tuple[int, ...], np.ndarray]]] = {}  # by sample
        for it in items:
            groups.setdefault(it[0][0], []).append(it)
        for f in [self._pool.submit(arr.read_items, g) for g in groups.values()]:
            f.result()

    def _group_items(
        self,
        name: str,
        idx: np.ndarray,
        sea: np.ndarray,
        positions: Sequence[int],
        dest: np.ndarray,
    ) -> None:
        """Read ``positions`` of array ``name``'s band axis into ``dest`` (n, seasons, k, h, w)."""
        arr = self._arrays[name]
        if arr is None:
            za = self.store.array(name)
            for i, s in enumerate(idx):
                dest[i] = za.get_orthogonal_selection((int(s), sea[i], np.asarray(positions)))
            return
        items = [
            ((int(s), int(sea[i, j]), int(b)), dest[i, j, k])
            for i, s in enumerate(idx)
            for j in range(sea.shape[1])
            for k, b in enumerate(positions)
        ]
        self._run(arr, items)

    def _band_names(self, bands: Sequence[str | int] | None) -> tuple[str, ...]:
        return tuple(self.spec.bands[i] for i in self.band_indices(bands))

    def native(
        self,
        samples: int | Sequence[int] | np.ndarray,
        seasons: Sequence[int] | np.ndarray | None = None,
        bands: Sequence[str | int] | None = None,
    ) -> BandImages:
        """Pixels of the given samples at each band's native resolution, uint16.

        ``result.arrays[group]`` is ``(n, seasons, bands of the group, size/f, size/f)``
        (f = 1, 2, 6 for 10, 20, 60 m), bands in the order asked. Layout 1–2 stores hold every
        band on the 10 m grid: their 20/60 m bands are decimated (one pixel per 2×2/6×6 block,
        exact where the stored pixels are such blocks).
        """
        idx = self._samples(samples)
        sea = self._seasons(idx.size, seasons)
        names = self._band_names(bands)
        if not self.native_layout:
            return BandImages.from_grid(self.pixels(idx, sea, names), names)
        arrays = {}
        for g, bs in group_bands(names).items():
            side = self.spec.group_size(g)
            dest = np.empty((idx.size, sea.shape[1], len(bs), side, side), np.uint16)
            stored = self.spec.groups[g]
            self._group_items(f"pixels_{g}", idx, sea, [stored.index(b) for b in bs], dest)
            arrays[g] = dest
        return BandImages(names, self.spec.size, arrays)

    def pixels(
        self,
        samples: int | Sequence[int] | np.ndarray,
        seasons: Sequence[int] | np.ndarray | None = None,
        bands: Sequence[str | int] | None = None,
        out: np.ndarray | None = None,
        grid: str = "10m",
        resample: str = "nearest",
    ) -> np.ndarray:
        """``(n, seasons, bands, size, size)`` uint16 pixels of the given samples, on one grid.

        ``grid`` is ``"10m"`` (the only common grid); in a layout-3 store the 20/60 m bands
        are upsampled to it with ``resample``: ``"nearest"`` (each native pixel becomes a
        2×2/6×6 block, exact) or ``"bilinear"`` (area-aligned, rounded). See :meth:`native`
        for the stored arrays themselves.
        """
        if grid != "10m":
            raise ValueError(
                f"grid must be '10m' (use native() for per-resolution arrays), got {grid!r}"
            )
        if resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, got {resample!r}")
        idx = self._samples(samples)
        sea = self._seasons(idx.size, seasons)
        bnd = self.band_indices(bands)
        size = self.spec.size
        shape = (idx.size, sea.shape[1], bnd.size, size, size)
        if out is None:
            out = np.empty(shape, np.uint16)
        elif out.shape != shape or out.dtype != np.uint16:
            raise ValueError(f"out must be uint16 of shape {shape}")
        if not self.native_layout:
            self._group_items("pixels", idx, sea, bnd.tolist(), out)
            return out
        names = [self.spec.bands[i] for i in bnd]
        for g, bs in group_bands(names).items():
            stored = self.spec.groups[g]
            positions = [stored.index(b) for b in bs]
            where = [names.index(b) for b in bs]
            if g == "10m" and where == list(range(where[0], where[0] + len(where))):
                # read straight into the output (a view over consecutive bands)
                self._group_items(
                    "pixels_10m", idx, sea, positions, out[:, :, where[0] : where[-1] + 1]
                )
                continue
            side = self.spec.group_size(g)
            part = np.empty((idx.size, sea.shape[1], len(bs), side, side), np.uint16)
            self._group_items(f"pixels_{g}", idx, sea, positions, part)
            out[:, :, where] = upsample(part, FACTOR[g], resample)
        return out

    def cloud(
        self,
        samples: int | Sequence[int] | np.ndarray,
        seasons: Sequence[int] | np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(n, seasons, size, size)`` uint8 cloud probabilities of the given samples."""
        return self._season_images("cloud", samples, seasons, out)

    def landcover(
        self,
        samples: int | Sequence[int] | np.ndarray,
        seasons: Sequence[int] | np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(n, seasons, size, size)`` uint8 ground-truth classes (stores with truth only)."""
        if not self.spec.has_truth:
            raise KeyError(f"{self.store.location} carries no ground truth (landcover)")
        return self._season_images("landcover", samples, seasons, out)

    def _season_images(
        self,
        name: str,
        samples: int | Sequence[int] | np.ndarray,
        seasons: Sequence[int] | np.ndarray | None,
        out: np.ndarray | None,
    ) -> np.ndarray:
        idx = self._samples(samples)
        sea = self._seasons(idx.size, seasons)
        size = self.spec.size
        shape = (idx.size, sea.shape[1], size, size)
        if out is None:
            out = np.empty(shape, np.uint8)
        arr = self._arrays[name]
        if arr is None:
            za = self.store.array(name)
            for i, s in enumerate(idx):
                out[i] = za.get_orthogonal_selection((int(s), sea[i]))
            return out
        items = [
            ((int(s), int(sea[i, j])), out[i, j])
            for i, s in enumerate(idx)
            for j in range(sea.shape[1])
        ]
        self._run(arr, items)
        return out

    def check_shard(self, name: str, shard: int) -> None:
        """Decode every image chunk of one shard; raises :class:`ChunkReadError` on the first bad one."""
        arr = self._arrays[name]
        sl = self.spec.shard_slice(shard)
        if arr is None:
            self.store.array(name)[sl]
            return
        lead = arr.layout.shape[1:-2]
        h, w = arr.layout.shape[-2:]
        buf = np.empty((sl.stop - sl.start, *lead, h, w), arr.layout.dtype)
        items = [
            ((s, *rest), buf[(s - sl.start, *rest)])
            for s in range(sl.start, sl.stop)
            for rest in np.ndindex(*lead)
        ]
        arr.read_items(items)
