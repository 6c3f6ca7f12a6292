"""Fast NumPy reads of the image arrays (``pixels``, ``cloud``) that decode only what is asked.

Layout 3 keeps each resolution group in its own array (``pixels_10m``, ``pixels_20m``,
``pixels_60m``): :meth:`StoreReader.native` returns them as they are stored and
:meth:`StoreReader.pixels` returns every band on the 10 m grid (20/60 m bands upsampled,
nearest by default or bilinear), as layouts 1–2 store them.

The store's image arrays are sharded with one inner chunk per ``(sample, season[, band])``
image. This reader reads each shard's index once (cached), fetches just the byte ranges of
the requested images (adjacent ranges merged into one read: the bands of one sample and
season lie side by side, so a contiguous band subset costs one request per sample and
season), checks their crc32c and decodes them straight into the output array. Decoders
release the GIL, so ``threads > 1`` scales.

On object storage the requests of one call (shard indexes first, then image ranges) are all
issued together, at most ``max_in_flight`` at a time
(:func:`shared.store.location.read_many`), so a batch costs about two round trips, not one
per request; local files are read with ``pread``, one after another.

It understands exactly the codec chains this layout writes (``bytes`` → ``blosc``/``zstd`` →
optional ``crc32c`` inside ``sharding_indexed`` with the index at the end) and falls back to
zarr-python for anything else, so it is never wrong, only sometimes slower.

An absent shard object normally means "all fill values" (zarr leaves empty shards out). In a
finished shard whose manifest lists the object it means damage: the reader raises
:class:`~shared.store.manifests.DamagedShardError` naming the shard and the array. The check runs
only when an object is absent, so reading present objects costs nothing extra.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from typing import Any

import numcodecs.blosc
import numpy as np
from numcodecs import Zstd

from shared.layout.native import FACTOR, RESAMPLING, BandImages, group_bands, upsample
from shared.layout.spec import image_arrays
from shared.store.handle import Store, open_store
from shared.store.location import DEFAULT_IN_FLIGHT, ByteSource, byte_source, read_many
from shared.store.manifests import (
    Damage,
    DamagedShardError,
    damage_message,
    manifest_key,
    manifest_shards,
    read_manifest,
)
from shared.store.shards import EMPTY, ChunkReadError, ShardLayout, check_crc, shard_layout

__all__ = ["StoreReader", "ChunkReadError"]

_MERGE_GAP = 1 << 16
_EMPTY = int(EMPTY)


class _Where:
    """Names a chunk in an error message; formatted only when one is raised."""

    __slots__ = ("key", "coords")

    def __init__(self, key: str, coords: tuple[int, ...]) -> None:
        self.key, self.coords = key, coords

    def __str__(self) -> str:
        return f"{self.key} chunk {self.coords}"


class _ImageArray:
    """Fast access to one sharded image array."""

    def __init__(
        self,
        layout: ShardLayout,
        src: ByteSource,
        cache_shards: int,
        on_absent: Callable[[str, int], None] | None = None,
    ) -> None:
        self.layout = layout
        self.src = src
        self.on_absent = on_absent  # raises when an absent object is damage
        self._cache: OrderedDict[tuple[int, ...], np.ndarray | None] = OrderedDict()
        self._cache_size = cache_shards
        self._lock = Lock()
        self._zstd = Zstd()
        self.chunks_read = 0
        self.bytes_read = 0

    def shard_key(self, shard_coords: tuple[int, ...]) -> str:
        return self.layout.name + "/c/" + "/".join(str(c) for c in shard_coords)  # as shard_key()

    def index(self, shard_coords: tuple[int, ...]) -> np.ndarray | None:
        """(…per_shard, 2) uint64 offsets/lengths of a shard, None when the shard is absent."""
        return self.indexes([shard_coords])[shard_coords]

    def indexes(
        self, shards: Sequence[tuple[int, ...]]
    ) -> dict[tuple[int, ...], np.ndarray | None]:
        """The indexes of ``shards`` (see :meth:`index`); those not cached are fetched together."""
        found: dict[tuple[int, ...], np.ndarray | None] = {}
        with self._lock:
            for sh in shards:
                if sh in self._cache:
                    self._cache.move_to_end(sh)
                    found[sh] = self._cache[sh]
        missing = [sh for sh in dict.fromkeys(shards) if sh not in found]
        nbytes = self.layout.index_nbytes
        raws = read_many(self.src, [(self.shard_key(sh), None, nbytes) for sh in missing])
        for sh, raw in zip(missing, raws, strict=True):
            found[sh] = self._parse_index(sh, raw)
        return found

    def _parse_index(self, shard_coords: tuple[int, ...], raw: bytes | None) -> np.ndarray | None:
        lay = self.layout
        key = self.shard_key(shard_coords)
        if raw is None:
            if self.on_absent is not None:
                self.on_absent(key, shard_coords[0])
            idx = None
        else:
            if len(raw) != lay.index_nbytes:
                raise ChunkReadError(f"{key}: shard shorter than its index (truncated write?)")
            body = check_crc(raw, f"{key} index") if lay.index_crc else memoryview(raw)
            idx = np.frombuffer(body, dtype="<u8").reshape(lay.per_shard + (2,))
        with self._lock:
            self._cache[shard_coords] = idx
            self.bytes_read += 0 if raw is None else len(raw)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return idx

    def decode_into(self, raw: bytes | memoryview, dest: np.ndarray, where: Any) -> None:
        """Check and decode one chunk into ``dest``; ``where`` names it in errors."""
        lay = self.layout
        body = check_crc(raw, where) if lay.chunk_crc else memoryview(raw)
        try:
            if lay.decoder == "blosc":
                numcodecs.blosc.decompress(body, dest)
            elif lay.decoder == "zstd":
                self._zstd.decode(body, out=dest)
            else:
                dest[...] = np.frombuffer(body, dtype=lay.dtype).reshape(dest.shape)
        except (RuntimeError, ValueError) as e:
            raise ChunkReadError(f"{where}: cannot decode ({e})") from e

    def read_items(
        self,
        items: Sequence[tuple[tuple[int, ...], np.ndarray]],
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        """Fill each ``dest`` view with the image at its leading ``coords``: every byte range
        fetched at once (:func:`read_many`), then decoded (in ``pool`` when given)."""
        lay = self.layout
        nlead = len(lay.inner) - 2
        placed = [
            (
                tuple(c // s for c, s in zip(coords, lay.shard[:nlead], strict=True)) + (0, 0),
                coords,
                dest,
            )
            for coords, dest in items
        ]
        idxs = self.indexes([shard for shard, _, _ in placed])
        by_shard: dict[tuple[int, ...], list[tuple[int, int, np.ndarray, tuple[int, ...]]]] = {}
        for shard, coords, dest in placed:
            idx = idxs[shard]
            if idx is None:
                dest[...] = lay.fill
                continue
            within = tuple(c % s for c, s in zip(coords, lay.shard[:nlead], strict=True)) + (0, 0)
            off, nb = idx[within].tolist()
            if off == _EMPTY and nb == _EMPTY:
                dest[...] = lay.fill
                continue
            by_shard.setdefault(shard, []).append((off, nb, dest, coords))
        reads: list[tuple[str, int, int, list[tuple[int, int, np.ndarray, tuple[int, ...]]]]] = []
        for shard, reqs in by_shard.items():
            key = self.shard_key(shard)
            reqs.sort(key=lambda r: r[0])
            start = 0
            while start < len(reqs):
                end = start + 1
                stop = reqs[start][0] + reqs[start][1]
                while end < len(reqs) and reqs[end][0] - stop <= _MERGE_GAP:
                    stop = max(stop, reqs[end][0] + reqs[end][1])
                    end += 1
                base = reqs[start][0]
                reads.append((key, base, stop - base, reqs[start:end]))
                start = end
        raws = read_many(self.src, [(key, base, n) for key, base, n, _ in reads])
        jobs = list(zip(reads, raws, strict=True))
        if pool is not None and len(jobs) > 1:
            for _ in pool.map(self._decode_read, jobs):
                pass
        else:
            for job in jobs:
                self._decode_read(job)

    def _decode_read(self, job: tuple[tuple[str, int, int, list[Any]], bytes | None]) -> None:
        """Decode the images of one merged read into their destinations."""
        (key, base, n, reqs), raw = job
        if raw is None or len(raw) < n:
            raise ChunkReadError(f"{key}: shard shorter than its index says")
        view = memoryview(raw)  # slices of it are not copies
        for off, nb, dest, coords in reqs:
            self.decode_into(view[off - base : off - base + nb], dest, _Where(key, coords))
        with self._lock:
            self.chunks_read += len(reqs)
            self.bytes_read += n


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
        self._arrays: dict[str, _ImageArray | None] = {}
        #: True for layout 3: bands are stored at their native resolutions
        self.native_layout = self.store.layout_version >= 3
        for name in image_arrays(self.spec, self.store.layout_version):
            layout = shard_layout(self.store.array(name))
            self._arrays[name] = (
                None
                if layout is None
                else _ImageArray(layout, src, cache_shards, on_absent=self._absent)
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

    def _run(self, arr: _ImageArray, items: Sequence[tuple[tuple[int, ...], np.ndarray]]) -> None:
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
