"""Keep credentials out of anything that is written down (store attributes, plans, logs)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["redact", "is_secret_key", "REDACTED"]

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(
    r"(secret|token|passw|credential|private[_-]?key|api[_-]?key|access[_-]?key|"
    r"key[_-]?(file|json|path|id)|service[_-]?account|auth|signature|sas|^key$)",
    re.IGNORECASE,
)


def is_secret_key(name: str) -> bool:
    """True when a configuration key names something that must never be stored."""
    return bool(_SECRET_KEY.search(name))


def _looks_secret(value: str) -> bool:
    return "PRIVATE KEY" in value or '"private_key"' in value or "sig=" in value


def redact(obj: Any) -> Any:
    """Copy of ``obj`` (nested dicts/lists of JSON values) with secret-looking entries masked.

    A key is secret by its name (``token``, ``key_file``, ``password``, …); a string value is
    secret by its content (a PEM private key, a service-account JSON, a signed URL).
    """
    if isinstance(obj, dict):
        return {
            k: (REDACTED if is_secret_key(str(k)) and v not in (None, "") else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str) and _looks_secret(obj):
        return REDACTED
    return obj
