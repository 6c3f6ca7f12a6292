"""Check a collection's output location before anything is planned, created or locked.

A local ``OUT`` must be a folder or not exist yet; an object-store URL must answer one cheap
request (does the store's root exist?), so an unreachable endpoint or bad credentials end in
one line naming the location and the reason, not in a traceback from deep in the client.
"""

from __future__ import annotations

from typing import Any

from shared.store.location import is_url, local_path
from shared.validate import ConfigValueError

__all__ = ["OutputUnreachableError", "check_output"]


class OutputUnreachableError(OSError):
    """The object store holding ``OUT`` did not answer (endpoint, network or credentials)."""


def check_output(location: str, storage_options: dict[str, Any]) -> None:
    """Raises:
    ConfigValueError: a local ``OUT`` exists and is not a folder.
    OutputUnreachableError: the object store of a URL ``OUT`` cannot be reached or read.
    """
    if not is_url(location):
        path = local_path(location)
        if path.exists() and not path.is_dir():
            raise ConfigValueError("--out", f"{location} exists and is not a folder (a store)")
        return
    from shared.errors import StoreUnreachableError
    from shared.store.location import check_reachable

    try:
        check_reachable(location, storage_options)
    except StoreUnreachableError as e:
        raise OutputUnreachableError(f"OUT: {e}") from None
