"""The Zarr v3 sharding format, read and written directly for the store's image arrays.

A shard object holds the compressed inner chunks one after another, then an index of
``(offset, nbytes)`` uint64 pairs in C order over the shard's chunk grid (``2^64 − 1`` twice
for an absent chunk) followed by the index's crc32c. zarr-python implements the general case;
this module handles exactly the codec chains the store layout writes, an order of magnitude
faster per chunk, and declines (returns ``None``) for anything else so callers fall back to
zarr-python. Tests check both directions against zarr-python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import google_crc32c
import numcodecs.blosc
import numpy as np
from numcodecs import Zstd

from shared.errors import StoreError

__all__ = [
    "ShardLayout",
    "shard_layout",
    "shard_key",
    "check_crc",
    "encode_shard",
    "ChunkReadError",
    "EMPTY",
]

EMPTY = np.uint64(2**64 - 1)
_SHUFFLE = {
    "noshuffle": numcodecs.blosc.NOSHUFFLE,
    "shuffle": numcodecs.blosc.SHUFFLE,
    "bitshuffle": numcodecs.blosc.BITSHUFFLE,
}


class ChunkReadError(StoreError):
    """An image chunk (or its shard index) could not be read or decoded."""


@dataclass
class ShardLayout:
    """What the fast path needs to know about one sharded image array."""

    name: str
    shape: tuple[int, ...]
    shard: tuple[int, ...]
    inner: tuple[int, ...]
    dtype: np.dtype
    fill: Any
    decoder: str  # "blosc" | "zstd" | "none"
    chunk_crc: bool
    index_crc: bool
    codec: dict[str, Any]  # the compressor's own configuration (level, shuffle, …)

    @property
    def per_shard(self) -> tuple[int, ...]:
        return tuple(s // c for s, c in zip(self.shard, self.inner, strict=True))

    @property
    def index_nbytes(self) -> int:
        return int(np.prod(self.per_shard)) * 16 + (4 if self.index_crc else 0)


def shard_layout(array: Any) -> ShardLayout | None:
    """The fast-path description of a zarr array, or None when its codecs are not ours."""
    meta = array.metadata.to_dict()
    keys = meta.get("chunk_key_encoding", {})
    if keys.get("name") != "default" or keys.get("configuration", {}).get("separator", "/") != "/":
        return None
    codecs = meta.get("codecs", [])
    if len(codecs) != 1 or codecs[0].get("name") != "sharding_indexed":
        return None
    cfg = codecs[0]["configuration"]
    if cfg.get("index_location", "end") != "end":
        return None
    inner = tuple(int(c) for c in cfg["chunk_shape"])
    shape = tuple(int(s) for s in meta["shape"])
    shard = tuple(int(s) for s in meta["chunk_grid"]["configuration"]["chunk_shape"])
    # the image (last two dims) must be one inner chunk; every leading dim chunked by 1
    if inner[-2:] != shape[-2:] or any(c != 1 for c in inner[:-2]):
        return None
    names = [c["name"] for c in cfg["codecs"]]
    if not names or names[0] != "bytes":
        return None
    endian = cfg["codecs"][0].get("configuration", {}).get("endian", "little")
    rest = names[1:]
    codec_cfg = dict(cfg["codecs"][1].get("configuration", {})) if len(cfg["codecs"]) > 1 else {}
    chunk_crc = bool(rest) and rest[-1] == "crc32c"
    if chunk_crc:
        rest = rest[:-1]
    if rest == ["blosc"]:
        decoder = "blosc"
    elif rest == ["zstd"]:
        decoder = "zstd"
    elif rest == []:
        decoder = "none"
    else:
        return None
    index_names = [c["name"] for c in cfg["index_codecs"]]
    if index_names not in (["bytes"], ["bytes", "crc32c"]):
        return None
    dtype = np.dtype(array.dtype).newbyteorder("<" if endian == "little" else ">")
    return ShardLayout(
        name=array.basename,
        shape=shape,
        shard=shard,
        inner=inner,
        dtype=dtype,
        fill=array.fill_value,
        decoder=decoder,
        chunk_crc=chunk_crc,
        index_crc=index_names[-1] == "crc32c",
        codec=codec_cfg,
    )


def shard_key(layout: ShardLayout, shard: int) -> str:
    """The object key of shard ``shard`` along the sample axis (``pixels/c/3/0/0/0/0``)."""
    return f"{layout.name}/c/{shard}" + "/0" * (len(layout.shape) - 1)


def check_crc(raw: bytes | memoryview, where: object) -> memoryview:
    """The body of ``raw`` (its last 4 bytes are the body's crc32c), without copying it.

    ``where`` names the data in the error message (formatted only then).
    """
    view = memoryview(raw)
    if len(view) < 4:
        raise ChunkReadError(f"{where}: shorter than its crc32c (truncated)")
    body = view[:-4]
    # google_crc32c takes bytes or NumPy arrays but not memoryviews: view it as uint8 (no copy)
    if google_crc32c.value(np.frombuffer(body, np.uint8)) != int.from_bytes(view[-4:], "little"):
        raise ChunkReadError(f"{where}: crc32c mismatch (corrupted data)")
    return body


def _crc(data: bytes) -> bytes:
    return int(google_crc32c.value(data)).to_bytes(4, "little")


def _compress(layout: ShardLayout, raw: bytes) -> bytes:
    cfg = layout.codec
    if layout.decoder == "blosc":
        return bytes(
            numcodecs.blosc.compress(
                raw,
                str(cfg.get("cname", "zstd")).encode(),
                int(cfg.get("clevel", 5)),
                _SHUFFLE[str(cfg.get("shuffle", "shuffle"))],
                int(cfg.get("blocksize", 0)),
                # the element size decides what shuffling means: bytes alone would say 1
                typesize=int(cfg.get("typesize") or layout.dtype.itemsize),
            )
        )
    if layout.decoder == "zstd":
        return bytes(
            Zstd(level=int(cfg.get("level", 0)), checksum=bool(cfg.get("checksum", False))).encode(
                raw
            )
        )
    return raw


def encode_shard(layout: ShardLayout, data: np.ndarray) -> bytes | None:
    """The bytes of one shard object holding ``data`` (k, *leading, H, W), or None if empty.

    ``k`` may be less than the shard's sample size (the last shard of an array). Images equal
    to the fill value are left out, as zarr-python does, and read back as the fill value.
    """
    lead = layout.shard[1:-2]
    if (
        data.shape[1:-2] != lead
        or data.shape[-2:] != layout.inner[-2:]
        or data.shape[0] > layout.shard[0]
    ):
        raise ValueError(f"shard data of shape {data.shape} does not fit shard {layout.shard}")
    index = np.full(layout.per_shard + (2,), EMPTY, dtype="<u8")
    pieces: list[bytes] = []
    offset = 0
    images = np.ascontiguousarray(data, dtype=layout.dtype)
    for pos in np.ndindex(*data.shape[:-2]):
        image = images[pos]
        if not np.any(image != layout.fill):
            continue
        body = _compress(layout, image.tobytes())
        if layout.chunk_crc:
            body += _crc(body)
        index[pos + (0, 0)] = (offset, len(body))
        pieces.append(body)
        offset += len(body)
    if not pieces:
        return None
    raw_index = index.tobytes()
    pieces.append(raw_index + (_crc(raw_index) if layout.index_crc else b""))
    return b"".join(pieces)
