"""Opening and creating stores: the :class:`Store` handle over one Zarr v3 group.

The layout itself (arrays, dims, chunks, shards, attributes) is defined in
:mod:`shared.layout.arrays`; this module creates a store from it, opens one and checks what it is.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import zarr
from zarr.core.sync import sync

from shared.errors import LayoutVersionError, NotAStoreError, StoreExistsError
from shared.layout.arrays import array_defs
from shared.layout.cf import CONVENTIONS
from shared.layout.encoding import CLOUD_DESCRIPTION, PIXEL_DESCRIPTION
from shared.layout.spec import LAYOUT_VERSION, READABLE_VERSIONS, StoreSpec, software_version
from shared.secrets import redact
from shared.store.location import (
    check_reachable,
    get_bytes,
    is_url,
    list_prefix,
    list_prefixes,
    local_path,
    put_bytes,
    zarr_store,
)

__all__ = [
    "Store",
    "create_store",
    "open_store",
    "store_exists",
    "is_half_created",
    "marker_key",
]


def marker_key(shard: int) -> str:
    """Object key of a shard's done-marker (``shard_done/c/3``); it exists only while set."""
    return f"shard_done/c/{int(shard)}"


class Store:
    """An opened store: its Zarr group, its spec and its root attributes."""

    def __init__(
        self,
        location: str | os.PathLike[str],
        group: zarr.Group,
        read_only: bool = True,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.location = str(location)
        self.storage_options = dict(storage_options or {})
        self.group = group
        self.read_only = read_only
        self.attrs: dict[str, Any] = dict(group.attrs)
        self.spec = StoreSpec.from_attrs(self.attrs)

    def __repr__(self) -> str:
        kind = "SYNTHETIC" if self.synthetic else self.source
        return f"Store({self.location!r}, {self.spec.n_samples} samples, source={kind})"

    @property
    def source(self) -> str:
        """Name of the source the data came from (``earthengine``, ``stac``, ``synthetic``)."""
        return str(self.attrs.get("source", "unknown"))

    @property
    def layout_version(self) -> int:
        """Layout version of this store (one of :data:`~shared.layout.spec.READABLE_VERSIONS`)."""
        return int(self.attrs["layout_version"])

    @property
    def synthetic(self) -> bool:
        """True when the pixels are generated, not observed."""
        return bool(self.attrs.get("synthetic", False))

    def array(self, name: str) -> zarr.Array:
        """One array of the store (opened once per handle: its metadata is read once)."""
        cache = self.__dict__.setdefault("_arrays", {})
        if name not in cache:
            cache[name] = self.group[name]
        return cache[name]

    # side files: everything in the store that is not an array chunk (plan, reports,
    # manifests, summaries, index, pictures); keys are relative to the store's root
    def read_object(self, key: str) -> bytes | None:
        """The bytes of the object ``key``, or ``None`` when it is absent."""
        return get_bytes(self.group.store, key)

    def write_object(self, key: str, data: bytes) -> None:
        """Write (or replace) the object ``key``."""
        put_bytes(self.group.store, key, data)

    def delete_object(self, key: str) -> None:
        """Delete the object ``key`` (nothing happens when it is absent)."""
        sync(self.group.store.delete(key))

    def list_objects(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (e.g. ``"reports/"``), sorted."""
        return list_prefix(self.group.store, prefix)

    def list_many(self, prefixes: list[str]) -> dict[str, list[str]]:
        """Keys under each of ``prefixes``, sorted; the listings run concurrently."""
        return list_prefixes(self.group.store, prefixes)

    def read_objects(self, keys: list[str], threads: int = 16) -> dict[str, bytes | None]:
        """Several small objects at once (``None`` for absent ones): direct file reads when
        local, concurrent requests otherwise; each object is read once."""
        if not keys:
            return {}
        if not is_url(self.location):
            root = str(local_path(self.location))

            def one(key: str) -> bytes | None:
                try:
                    with open(os.path.join(root, key), "rb") as f:
                        return f.read()
                except FileNotFoundError:
                    return None

            if len(keys) < 256:
                return {k: one(k) for k in keys}
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                return dict(zip(keys, pool.map(one, keys, chunksize=256), strict=True))
        import asyncio

        from zarr.core.buffer import default_buffer_prototype

        zstore, proto = self.group.store, default_buffer_prototype()

        async def fetch() -> list[Any]:
            limit = asyncio.Semaphore(max(1, threads) * 4)

            async def get(key: str) -> Any:
                async with limit:
                    return await zstore.get(key, proto)

            return list(await asyncio.gather(*(get(k) for k in keys)))

        got = sync(fetch())
        return {k: None if b is None else b.to_bytes() for k, b in zip(keys, got, strict=True)}

    @property
    def raw(self) -> Any:
        """The underlying Zarr store object (for xarray and zarr's own functions only)."""
        return self.group.store

    def shard_done(self, shard: int) -> bool:
        """Whether one shard's done-marker is set: one small request, whatever the store's size
        (the marker's object exists only while it is set, see :meth:`done_shards`)."""
        return self.exists_object(marker_key(shard))

    def exists_object(self, key: str) -> bool:
        """Whether the object ``key`` exists."""
        if not is_url(self.location):
            return os.path.isfile(os.path.join(local_path(self.location), key))
        return bool(sync(self.group.store.exists(key)))

    def done_shards(self) -> np.ndarray:
        """Boolean mask over shards: True where the shard's done-marker is set.

        Read from one listing of the markers' objects (a marker is written as 1 and removed
        when cleared, never written as 0 — zarr leaves fill-value chunks out), so the cost is
        one listing, not one read per shard.
        """
        n = self.spec.n_shards
        mask = np.zeros(n, bool)
        prefix = "shard_done/"
        names: list[str]
        if not is_url(self.location):
            folder = local_path(self.location) / "shard_done" / "c"
            names = os.listdir(folder) if folder.is_dir() else []
        else:
            names = [k[len(prefix) + 2 :] for k in self.list_objects(prefix + "c/")]
        # (a marker written by hand as 0 would read as set; the writer never does that)
        idx = np.fromiter((int(x) for x in names if x.isdigit()), np.int64)
        mask[idx[(idx >= 0) & (idx < n)]] = True
        return mask

    def pending_shards(self) -> list[int]:
        """Indices of shards not yet done."""
        return [int(i) for i in np.flatnonzero(~self.done_shards())]

    def update_attrs(self, **attrs: Any) -> None:
        """Add or replace root attributes (secrets are redacted)."""
        if self.read_only:
            raise PermissionError(f"store {self.location} is open read-only")
        clean = redact(attrs)
        self.group.attrs.update(clean)
        self.attrs.update(clean)


def create_store(
    location: str | os.PathLike[str],
    spec: StoreSpec,
    source: str,
    synthetic: bool,
    config: dict[str, Any] | None = None,
    storage_options: dict[str, Any] | None = None,
    extra_attrs: dict[str, Any] | None = None,
    overwrite: bool = False,
    layout_version: int = LAYOUT_VERSION,
) -> Store:
    """Create an empty store at ``location`` (must not exist yet) and return it open for writing.

    ``layout_version`` other than the current one is for tests and conversions only. A
    version-3 store with 60 m bands needs ``spec.size`` divisible by 6, with 20 m bands by 2
    (``ValueError`` before anything is written).

    ``config`` is the collection configuration; it is stored with secrets redacted. Creation
    is two-phase: the root is marked ``creating`` until every array exists, then the full
    attributes are written at once, so an interrupted creation is recognisable
    (:func:`is_half_created`) and may be redone with ``overwrite=True``.
    """
    if layout_version not in READABLE_VERSIONS:
        raise ValueError(f"cannot create layout version {layout_version}")
    if layout_version >= 3:
        spec.check_native()
    zstore = zarr_store(location, read_only=False, storage_options=storage_options)
    try:
        group = zarr.open_group(
            zstore, mode="w" if overwrite else "w-", zarr_format=3, attributes={"creating": True}
        )
    except (FileExistsError, zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError) as e:
        raise StoreExistsError(f"{location} already exists; choose another path") from e
    attrs: dict[str, Any] = {
        "title": "SeCo multi-season Sentinel-2 patches"
        + (" (SYNTHETIC: generated, not observed)" if synthetic else ""),
        "layout_version": int(layout_version),
        "Conventions": CONVENTIONS,
        "source": source,
        "synthetic": bool(synthetic),
        **spec.to_attrs(),
        "pixel_encoding": PIXEL_DESCRIPTION,
        "cloud_encoding": CLOUD_DESCRIPTION,
        "software": software_version(),
        "config": redact(config or {}),
        **(redact(extra_attrs) if extra_attrs else {}),
    }
    for d in array_defs(spec, layout_version).values():
        d.create(group)
    group["band"][:] = np.array(spec.bands)  # type: ignore[index]
    for g, bands in spec.groups.items() if layout_version >= 3 else ():
        group[f"band_{g}"][:] = np.array(bands)  # type: ignore[index]
    group["season"][:] = np.arange(spec.n_seasons, dtype=np.int16)  # type: ignore[index]
    group.attrs.put(attrs)  # one write replaces the "creating" marker: the store now exists
    return Store(location, group, read_only=False, storage_options=storage_options)


def is_half_created(
    location: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> bool:
    """True for a store whose creation was interrupted (it can hold no data yet)."""
    if not store_exists(location, storage_options):
        return False
    zstore = zarr_store(location, read_only=True, storage_options=storage_options)
    attrs = dict(zarr.open_group(zstore, mode="r", zarr_format=3).attrs)
    return bool(attrs.get("creating")) and "layout_version" not in attrs


def open_store(
    location: str | os.PathLike[str],
    mode: str = "r",
    storage_options: dict[str, Any] | None = None,
) -> Store:
    """Open an existing store; ``mode`` is ``"r"`` or ``"r+"``.

    Raises :class:`NotAStoreError` when nothing SeCo-shaped is there and
    :class:`LayoutVersionError` for a layout this version does not read. Version-1 stores
    open as they are (no ``x``/``y`` arrays); ``python -m shared upgrade`` adds them.
    """
    if mode not in ("r", "r+"):
        raise ValueError(f"mode must be 'r' or 'r+', got {mode!r}")
    if not store_exists(location, storage_options):
        if not is_url(location) and local_path(location).exists():
            raise NotAStoreError(f"{location}: exists but is not a Zarr store (no zarr.json)")
        raise NotAStoreError(f"{location}: no such store")
    zstore = zarr_store(location, read_only=mode == "r", storage_options=storage_options)
    try:
        group = zarr.open_group(zstore, mode="r" if mode == "r" else "r+", zarr_format=3)
    except Exception as e:  # zarr raises several types for "not a group here"
        raise NotAStoreError(f"{location}: not a Zarr v3 group ({type(e).__name__})") from e
    attrs = dict(group.attrs)
    if "layout_version" not in attrs:
        raise NotAStoreError(f"{location}: a Zarr group but not a SeCo store (no layout_version)")
    if attrs["layout_version"] not in READABLE_VERSIONS:
        raise LayoutVersionError(
            f"{location}: layout version {attrs['layout_version']!r}, this software reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    try:
        return Store(location, group, read_only=mode == "r", storage_options=storage_options)
    except (KeyError, ValueError, TypeError) as e:
        raise NotAStoreError(f"{location}: store attributes are incomplete ({e})") from e


def store_exists(
    location: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> bool:
    """True when a Zarr group (``zarr.json``) exists at ``location``.

    Raises:
        StoreUnreachableError: an object store that does not answer (one line).
    """
    return check_reachable(location, storage_options)  # one line when it cannot say
