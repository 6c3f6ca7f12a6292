"""Every object of a finished shard accounted for: per-shard manifests and the checks on them.

When a shard is finished, :func:`write_manifest` records what it consists of in
``manifests/shard-NNNNNN.json``: every object key of the shard's arrays that exists, with its
size in bytes and crc32c. It is written after the shard's objects and before its done-marker.
An object the manifest lists that is missing, shorter, longer or altered is damage; a key it
does not list was legitimately never written (zarr leaves chunks equal to the fill value out,
e.g. every array of a shard whose slots are all empty).

A store with at least one manifest is *manifest-aware*: every finished shard must have one.
A store with none was written before manifests existed;
:func:`shared.checks.upgrade.record_manifests` checks its
finished shards (crc32c of every chunk) and records them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import google_crc32c
import numpy as np

from shared.errors import StoreError, format_ranges
from shared.layout.array_names import shard_arrays
from shared.store.handle import Store
from shared.store.location import is_url, local_path

__all__ = [
    "MANIFEST_PREFIX",
    "REPORT_PREFIX",
    "DamagedShardError",
    "Damage",
    "manifest_key",
    "report_key",
    "shard_keys",
    "build_manifest",
    "write_manifest",
    "read_manifest",
    "manifest_shards",
    "check_shard",
    "find_damage",
    "group_doc",
    "missing_objects",
    "unfilled_after_source_errors",
]

MANIFEST_PREFIX = "manifests/"
REPORT_PREFIX = "reports/"
MANIFEST_FORMAT = 1


class DamagedShardError(StoreError):
    """A finished shard lacks an object (or its manifest), or an object is altered."""


@dataclass(frozen=True)
class Damage:
    """One damaged object of a finished shard. ``kind``: missing, size, crc or manifest."""

    shard: int
    array: str
    key: str
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == "manifest":
            return f"shard {self.shard}: manifest is missing ({self.key})"
        what = {
            "missing": "object is missing",
            "size": "object has the wrong size (truncated or overwritten)",
            "crc": "object fails its crc32c (corrupted)",
            "manifest": "manifest is missing",
        }[self.kind]
        where = f"array {self.array!r} ({self.key})" if self.array else self.key
        return f"shard {self.shard}: {where}: {what}{' ' + self.detail if self.detail else ''}"


def manifest_key(shard: int) -> str:
    """``manifests/shard-000003.json``."""
    return f"{MANIFEST_PREFIX}shard-{shard:06d}.json"


def report_key(shard: int) -> str:
    """``reports/shard-000003.json``: the collector's record of how a shard was filled."""
    return f"{REPORT_PREFIX}shard-{shard:06d}.json"


def shard_keys(store: Store, shard: int) -> dict[str, str]:
    """Object key of each array of one shard, by array name (``{"time": "time/c/3/0", …}``)."""
    out = {}
    for name in shard_arrays(store.spec, store.layout_version):
        meta = store.array(name).metadata
        coords = (shard,) + (0,) * (len(meta.shape) - 1)
        out[name] = f"{name}/{meta.encode_chunk_key(coords)}"
    return out


def _crc(data: bytes) -> int:
    return int(google_crc32c.value(data))


def build_manifest(
    store: Store, shard: int, known: dict[str, bytes | None] | None = None
) -> dict[str, Any]:
    """The manifest of a written shard; ``known`` holds object bytes the caller already has
    (``None`` for an object it deleted) so that they need not be read back."""
    known = known or {}
    objects: dict[str, dict[str, int]] = {}
    for key in shard_keys(store, shard).values():
        data = known[key] if key in known else store.read_object(key)
        if data is not None:
            objects[key] = {"bytes": len(data), "crc32c": _crc(data)}
    return {"format": MANIFEST_FORMAT, "shard": int(shard), "objects": objects}


def group_doc(description: str) -> bytes:
    """The ``zarr.json`` of an empty Zarr group of side files (``manifests/``, ``summaries/``),
    so that zarr and xarray, listing the store's members, see a group they skip rather than
    objects they warn about."""
    attrs = {"zarr_format": 3, "node_type": "group", "attributes": {"description": description}}
    return json.dumps(attrs, sort_keys=True).encode()


_GROUP_DOC = group_doc("per-shard manifests: object keys, sizes, crc32c")


def write_manifest(
    store: Store, shard: int, known: dict[str, bytes | None] | None = None
) -> dict[str, Any]:
    """Record the manifest of a shard whose objects are all written (before its done-marker);
    returns it."""
    manifest = build_manifest(store, shard, known)
    if store.read_object(MANIFEST_PREFIX + "zarr.json") != _GROUP_DOC:
        store.write_object(MANIFEST_PREFIX + "zarr.json", _GROUP_DOC)
    store.write_object(manifest_key(shard), json.dumps(manifest, sort_keys=True).encode())
    return manifest


def read_manifest(store: Store, shard: int) -> dict[str, Any] | None:
    """A shard's manifest, or ``None`` when it has none (or an unreadable one)."""
    return _parse(store.read_object(manifest_key(shard)))


def manifest_shards(store: Store) -> set[int]:
    """Shards that have a manifest object."""
    out: set[int] = set()
    if is_url(store.location):
        keys = store.list_objects(MANIFEST_PREFIX)
    else:
        folder = local_path(store.location) / MANIFEST_PREFIX
        keys = [MANIFEST_PREFIX + n for n in os.listdir(folder)] if folder.is_dir() else []
    for key in keys:
        stem = key[len(MANIFEST_PREFIX) :]
        if stem.startswith("shard-") and stem.endswith(".json"):
            try:
                out.add(int(stem[len("shard-") : -len(".json")]))
            except ValueError:
                continue
    return out


def _array_of(key: str) -> str:
    return key.split("/", 1)[0]


def check_shard(
    store: Store, shard: int, checksums: bool = True, present: set[str] | None = None
) -> list[Damage]:
    """Damage of one finished shard against its manifest.

    With ``checksums`` every listed object is read whole: missing, wrong size, crc32c
    mismatch. Without, objects are checked for presence (against ``present``, a listing of
    the store, when given) and, in a local store, for their size.
    """
    manifest = read_manifest(store, shard)
    if manifest is None:
        return [Damage(shard, "", manifest_key(shard), "manifest")]
    out = []
    root = None if is_url(store.location) else local_path(store.location)
    for key, want in sorted(manifest["objects"].items()):
        name = _array_of(key)
        if checksums:
            data = store.read_object(key)
            if data is None:
                out.append(Damage(shard, name, key, "missing"))
            elif len(data) != want["bytes"]:
                out.append(Damage(shard, name, key, "size", f"({len(data)} of {want['bytes']} B)"))
            elif _crc(data) != want["crc32c"]:
                out.append(Damage(shard, name, key, "crc"))
            continue
        if present is not None and key not in present:
            out.append(Damage(shard, name, key, "missing"))
            continue
        if root is None:
            continue  # object stores: presence only (a size would cost one request each)
        try:
            size = os.stat(root / key).st_size
        except FileNotFoundError:
            out.append(Damage(shard, name, key, "missing"))
            continue
        if size != want["bytes"]:
            out.append(Damage(shard, name, key, "size", f"({size} of {want['bytes']} B)"))
    return out


def find_damage(
    store: Store, checksums: bool = True, progress: bool = False
) -> tuple[list[Damage], bool]:
    """Damage of every finished shard, and whether the store is manifest-aware at all;
    ``progress`` shows the checksum pass (:func:`shared.progress.progress`, on stderr).

    A store without any manifest (written before they existed) returns ``([], False)``.
    """
    done = np.flatnonzero(store.done_shards())
    have = manifest_shards(store)
    if not have:
        return [], False
    damage: list[Damage] = []
    if checksums:
        from shared.progress import progress as bar_for

        bar = bar_for(len(done), "verify: checksums", "shard", enabled=progress)
        for one in done:
            damage.extend(check_shard(store, int(one), checksums))
            bar.update(1)
        bar.close()
        return damage, True
    # quick: every manifest read once (concurrently), then presence and (locally) sizes
    finished = [int(s) for s in done]
    raw = store.read_objects([manifest_key(s) for s in finished])
    manifests = {s: _parse(raw.get(manifest_key(s))) for s in finished}
    present = set(store.list_objects("")) if is_url(store.location) else None
    root = None if is_url(store.location) else str(local_path(store.location))
    for shard, manifest in manifests.items():
        if manifest is None:
            damage.append(Damage(shard, "", manifest_key(shard), "manifest"))
            continue
        for key, want in sorted(manifest["objects"].items()):
            name = _array_of(key)
            if present is not None:
                if key not in present:
                    damage.append(Damage(shard, name, key, "missing"))
                continue
            try:
                size = os.stat(os.path.join(root, key)).st_size  # type: ignore[arg-type]
            except FileNotFoundError:
                damage.append(Damage(shard, name, key, "missing"))
                continue
            if size != want["bytes"]:
                damage.append(Damage(shard, name, key, "size", f"({size} of {want['bytes']} B)"))
    return damage, True


def _read_many(store: Store, keys: list[str]) -> dict[str, bytes | None]:
    """Several small objects at once (see :meth:`Store.read_objects`)."""
    return store.read_objects(keys)


def _exists_all(store: Store, keys: list[str]) -> set[str]:
    """Those of ``keys`` that exist: one listing of each array's folder locally, one paged
    listing otherwise."""
    if is_url(store.location):
        return set(keys) & set(store.list_objects(""))
    return set(keys) & _local_keys(store, {_array_of(k) for k in keys})


def _local_keys(store: Store, arrays: set[str]) -> set[str]:
    """Every object key under the given arrays' folders of a local store (one walk each)."""
    root = str(local_path(store.location))
    out: set[str] = set()
    for name in arrays:
        base = os.path.join(root, name)
        for folder, _, files in os.walk(base):
            rel = os.path.relpath(folder, root).replace(os.sep, "/")
            out.update(f"{rel}/{f}" for f in files)
    return out


def missing_objects(store: Store, done: np.ndarray | None = None) -> list[Damage]:
    """The cheap check for readers: finished shards whose manifest is missing or lists an
    object that does not exist (one small read per shard plus a stat per object, or one
    listing of an object store). ``done``: the store's done-shard mask, if already read.

    Empty for a store written before manifests existed.
    """
    have = manifest_shards(store)
    if not have:
        return []
    mask = store.done_shards() if done is None else done
    finished = [int(i) for i in np.flatnonzero(mask)]
    raw = _read_many(store, [manifest_key(s) for s in finished if s in have])
    manifests = {s: _parse(raw.get(manifest_key(s))) for s in finished}
    listed = [k for m in manifests.values() if m is not None for k in m["objects"]]
    present = _exists_all(store, listed)
    out: list[Damage] = []
    for shard, manifest in manifests.items():
        if manifest is None:
            out.append(Damage(shard, "", manifest_key(shard), "manifest"))
            continue
        out.extend(
            Damage(shard, _array_of(key), key, "missing")
            for key in sorted(manifest["objects"])
            if key not in present
        )
    return out


def _done_report(key: str, done: np.ndarray) -> bool:
    """Whether a report key (``reports/shard-000003.json``) names a finished shard."""
    stem = key[len(REPORT_PREFIX) :]
    try:
        shard = int(stem[len("shard-") : -len(".json")])
    except ValueError:
        return False
    return 0 <= shard < done.size and bool(done[shard])


def _parse(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        manifest = json.loads(raw)
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) and "objects" in manifest else None


def damage_message(store: Store, damage: list[Damage]) -> str:
    """One line naming the first damaged shard and array, how many more, and the way out."""
    shards = sorted({d.shard for d in damage})
    more = (
        f" ({len(damage) - 1} more in shard(s) {format_ranges(shards)})" if len(damage) > 1 else ""
    )
    return (
        f"{store.location}: damaged: {damage[0]}{more}; "
        "repair with the collect command that made it plus --repair"
    )


def unfilled_after_source_errors(store: Store) -> dict[int, int]:
    """Unfinished shards whose collector report says slots wait for a retry after source
    errors: ``{shard: slots}``."""
    out = {}
    done = store.done_shards()
    keys = [k for k in store.list_objects(REPORT_PREFIX) if not _done_report(k, done)]
    got = store.read_objects(keys)
    for key in keys:
        raw = got[key]
        try:
            report = json.loads(raw) if raw else {}
            shard, pending = int(report["shard"]), report.get("pending") or {}
        except (ValueError, KeyError, TypeError):
            continue
        if 0 <= shard < done.size and not done[shard] and pending.get("slots"):
            out[shard] = len(pending["slots"])
    return out
