"""Keep credentials out of anything that is written down or printed (store attributes, plans,
reports, logs, error lines).

Three kinds of secret are recognised:

- by the name of a configuration key (``token``, ``key_file``, ``password``,
  ``subscription_key``, …): its value is replaced by :data:`REDACTED`;
- by content: a PEM private key or a service-account JSON (the whole string is replaced), and
  inside URLs the userinfo (``https://user:token@host``) and known token query parameters
  (``sig``, ``token``, ``key``, ``access_token``, ``X-Amz-Signature``, ``subscription-key``, …;
  only their values are replaced, the rest of the URL stays readable);
- by value: strings handed to :func:`remember_secrets` (the values of secret-named
  ``source_options``, say) are masked wherever they appear in text passed to
  :func:`redact_text`, the last filter before anything is printed.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["redact", "redact_text", "remember_secrets", "is_secret_key", "REDACTED"]

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(
    r"(secret|token|passw|credential|private[_-]?key|api[_-]?key|apikey|access[_-]?key|"
    r"subscription|key[_-]?(file|json|path|id)|service[_-]?account|auth|signature|sas|"
    r"bearer|cookie|^sig$|^key$|[_-]key$)",
    re.IGNORECASE,
)
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^\s'\"<>`]+)")
_USERINFO = re.compile(r"^(?P<userinfo>[^/?#@]+)@")
_QUERY_ITEM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s]+)=(?P<value>[^&;#\s]*)")
_MIN_REMEMBERED = 6  # shorter values would mask ordinary words
_remembered: set[str] = set()


def is_secret_key(name: str) -> bool:
    """True when a configuration key (or a URL query parameter) names a credential."""
    return bool(_SECRET_KEY.search(name))


def _looks_secret(value: str) -> bool:
    return "PRIVATE KEY" in value or '"private_key"' in value


def _scrub_url(match: re.Match[str]) -> str:
    rest = _USERINFO.sub(f"{REDACTED}@", match["rest"], count=1)

    def query(item: re.Match[str]) -> str:
        if is_secret_key(item["name"]) and item["value"]:
            return f"{item['lead']}{item['name']}={REDACTED}"
        return item.group(0)

    return match["scheme"] + _QUERY_ITEM.sub(query, rest)


def redact_text(text: str) -> str:
    """``text`` with URL credentials, PEM keys and remembered secret values masked.

    >>> redact_text("GET https://u:pw@h.example/a.tif?sig=abc&se=2030 failed")
    'GET https://<redacted>@h.example/a.tif?sig=<redacted>&se=2030 failed'
    """
    if _looks_secret(text):
        return REDACTED
    out = _URL.sub(_scrub_url, text)
    for value in sorted(_remembered, key=len, reverse=True):
        if value in out:
            out = out.replace(value, REDACTED)
    return out


def redact(obj: Any) -> Any:
    """Copy of ``obj`` (nested dicts/lists of JSON values) with secrets masked.

    A value under a secret-named key becomes :data:`REDACTED`; every string passes through
    :func:`redact_text`.
    """
    if isinstance(obj, dict):
        return {
            k: (REDACTED if is_secret_key(str(k)) and v not in (None, "") else redact(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def remember_secrets(obj: Any) -> None:
    """Remember, for this process, the secret values inside ``obj`` (nested dicts/lists):
    values under secret-named keys, URL passwords and token query values, so that
    :func:`redact_text` masks them even where they appear without their name."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if is_secret_key(str(k)) and isinstance(v, (str, int)) and not isinstance(v, bool):
                _remember(str(v))
            remember_secrets(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            remember_secrets(v)
    elif isinstance(obj, str):
        for url in _URL.finditer(obj):
            userinfo = _USERINFO.match(url["rest"])
            if userinfo:
                _remember(userinfo["userinfo"])
                _remember(userinfo["userinfo"].partition(":")[2])
            for item in _QUERY_ITEM.finditer(url["rest"]):
                if is_secret_key(item["name"]):
                    _remember(item["value"])


def _remember(value: str) -> None:
    if len(value) >= _MIN_REMEMBERED:
        _remembered.add(value)
