"""Checks of the STAC source before anything is written: the catalogue, its overrides and the
signer (:func:`preflight`, offline), and the API's host name (:func:`probe`)."""

from __future__ import annotations

from typing import Any

from collector.sources.base import UnreachableError
from collector.sources.stac.catalogs import Catalog, resolve_catalog
from collector.sources.stac.read import strip_query
from collector.sources.stac.sign import load_signer

__all__ = ["preflight", "probe"]


def _catalog(options: dict[str, Any]) -> Catalog:
    """The catalogue the source options name, with their overrides."""
    return resolve_catalog(
        str(options.get("catalog", "earth-search")),
        options.get("url"),
        options.get("collection_id"),
        options.get("assets"),
        options.get("offset"),
    )


def preflight(options: dict[str, Any]) -> None:
    """Check the catalogue, its overrides and the signer before anything is written (offline)."""
    catalog = _catalog(options)
    load_signer(options.get("signer"), catalog)


def probe(options: dict[str, Any]) -> None:
    """Resolve the STAC API's host name once before anything is written, so that a machine
    without network (or a misspelt host) gets one line at once instead of a run of failing
    candidates. A resolver that does not answer within 10 s is not an error here (the run's
    own retries judge it).

    Raises:
        UnreachableError: the host name does not resolve.
    """
    from urllib.parse import urlsplit

    from shared.net import unresolvable

    catalog = _catalog(options)
    host = urlsplit(catalog.url).hostname
    why = unresolvable(host) if host else None
    if why is not None:
        raise UnreachableError(
            f"the STAC API {strip_query(catalog.url)} cannot be reached: its host name "
            f"{host} does not resolve ({why}); check the network or --stac"
        )
