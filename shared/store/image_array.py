"""Ranged reads of one sharded image array, decoded straight into the caller's arrays.

The store's image arrays are sharded with one inner chunk per ``(sample, season[, band])``
image. :class:`ImageArray` reads each shard's index once (cached), fetches just the byte
ranges of the requested images (adjacent ranges merged into one read: the bands of one sample
and season lie side by side, so a contiguous band subset costs one request per sample and
season), checks their crc32c and decodes them straight into the output array.

On object storage the requests of one call (shard indexes first, then image ranges) are all
issued together, at most ``max_in_flight`` at a time
(:func:`shared.store.location.read_many`), so a batch costs about two round trips, not one
per request; local files are read with ``pread``, one after another.

It understands exactly the codec chains this layout writes (``bytes`` → ``blosc``/``zstd`` →
optional ``crc32c`` inside ``sharding_indexed`` with the index at the end);
:func:`~shared.store.shards.shard_layout` declines any other, and
:class:`~shared.store.reader.StoreReader` reads such an array through zarr-python.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from typing import Any

import numcodecs.blosc
import numpy as np
from numcodecs import Zstd

from shared.store.location import ByteSource, read_many
from shared.store.shards import EMPTY, ChunkReadError, ShardLayout, check_crc

__all__ = ["ImageArray"]

_MERGE_GAP = 1 << 16
_EMPTY = int(EMPTY)


class _Where:
    """Names a chunk in an error message; formatted only when one is raised."""

    __slots__ = ("key", "coords")

    def __init__(self, key: str, coords: tuple[int, ...]) -> None:
        self.key, self.coords = key, coords

    def __str__(self) -> str:
        return f"{self.key} chunk {self.coords}"


class ImageArray:
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
