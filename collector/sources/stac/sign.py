"""Signing Planetary Computer hrefs: SAS tokens from its token service, bounded retries.

Planetary Computer's blobs (``https://<account>.blob.core.windows.net/<container>/…``) are
read with a SAS token appended as a query string. Tokens come from the token service
(``https://planetarycomputer.microsoft.com/api/sas/v1/token/<account>/<container>``, or
``PC_SDK_SAS_URL``), one per container, and are cached by the ``planetary-computer`` package
until a minute before they expire. Its own ``sign`` retries the token service 10 times with
growing pauses; here the token request is retried ``retries`` times only, because a failure
becomes a :class:`~collector.sources.base.TransientError` that the engine retries with its
own backoff (see :func:`collector.sources.stac.errors.classify_api_error`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from urllib.parse import urlparse

from collector.sources.stac.catalogs import Catalog

__all__ = ["PlanetaryComputerSigner", "Signer", "load_signer"]

Signer = Callable[[str], str]
BLOB_DOMAIN = ".blob.core.windows.net"


class PlanetaryComputerSigner:
    """Signs Planetary Computer hrefs with a SAS token (``planetary_computer.sas.get_token``).

    Hrefs outside Azure blob storage, and hrefs that carry a query already, are returned as
    they are. ``invalidate()`` drops the cached tokens, so the next signature asks for a new
    one. Raises what the token request raises (``requests.RetryError`` after repeated 5xx,
    ``requests.HTTPError`` for a 4xx, connection errors). Pickles and ships to workers as is.
    """

    def __init__(self, retries: int = 2, backoff_s: float = 0.5) -> None:
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)

    def __call__(self, href: str) -> str:
        from planetary_computer import sas
        from planetary_computer.utils import parse_blob_url

        parsed = urlparse(href)
        if not parsed.netloc.endswith(BLOB_DOMAIN) or parsed.query:
            return href
        account, container = parse_blob_url(parsed)
        token = sas.get_token(
            account, container, retry_total=self.retries, retry_backoff_factor=self.backoff_s
        )
        return str(token.sign(href).href)

    def invalidate(self) -> None:
        from planetary_computer import sas

        sas.TOKEN_CACHE.clear()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlanetaryComputerSigner) and (other.retries, other.backoff_s) == (
            self.retries,
            self.backoff_s,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.retries, self.backoff_s))

    def __repr__(self) -> str:
        return f"PlanetaryComputerSigner(retries={self.retries}, backoff_s={self.backoff_s:g})"


def load_signer(spec: str | Signer | None, catalog: Catalog) -> Signer | None:
    """The signer of a source: ``spec`` (a callable or ``"module:function"``), else
    :class:`PlanetaryComputerSigner` where the catalogue needs signing, else ``None``.

    Raises:
        ValueError: ``spec`` cannot be imported or is not callable.
    """
    if spec is None:
        return PlanetaryComputerSigner() if catalog.signed else None
    if callable(spec):
        return spec
    if isinstance(spec, str) and ":" in spec:
        module, _, name = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"signer {spec!r} cannot be imported: {e}") from e
        if not callable(fn):
            raise ValueError(f"signer {spec!r} is not callable")
        return fn
    raise ValueError(f"signer must be a callable or 'module:function', got {spec!r}")
