"""Earth Engine credentials, found in a fixed order, never written anywhere.

1. a service-account key: ``EE_SERVICE_ACCOUNT_KEY`` holds the path of a key file or the key
   JSON itself;
2. application default credentials (``gcloud auth application-default login``, or
   ``GOOGLE_APPLICATION_CREDENTIALS``, or a cloud VM's service account);
3. the user's persistent credentials from ``earthengine authenticate``.

The Cloud project comes from ``EE_PROJECT`` (or the ``project`` source option). Credentials
live only in the process that uses them: sources keep the project name, not the key, in their
picklable state, and each Dask worker finds its own credentials the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from collector.sources.base import PermanentError

__all__ = ["EarthEngineAuthError", "find_credentials", "find_project", "ENV_KEY", "ENV_PROJECT"]

ENV_KEY = "EE_SERVICE_ACCOUNT_KEY"
ENV_PROJECT = "EE_PROJECT"
SCOPES = [
    "https://www.googleapis.com/auth/earthengine",
    "https://www.googleapis.com/auth/cloud-platform",
]
HOW_TO = (
    f"set {ENV_KEY} to a service-account key file (or its JSON), or run "
    "'gcloud auth application-default login', or 'earthengine authenticate'; "
    "SOURCE=synthetic collects offline synthetic data instead"
)


class EarthEngineAuthError(PermanentError):
    """No usable Earth Engine credentials or project; the message says how to provide them."""


def _service_account(value: str) -> tuple[Any, str]:
    from google.oauth2 import service_account

    text = value.strip()
    try:
        info = (
            json.loads(text)
            if text.startswith("{")
            else json.loads(Path(text).expanduser().read_text())
        )
    except (OSError, ValueError) as e:
        # never echo the value: it may be the key itself
        raise EarthEngineAuthError(
            f"{ENV_KEY} is neither a readable key file nor service-account key JSON ({type(e).__name__})"
        ) from None
    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError) as e:
        raise EarthEngineAuthError(
            f"{ENV_KEY} does not hold a valid service-account key ({type(e).__name__})"
        ) from None
    return creds, f"service account {info.get('client_email', '?')}"


def find_credentials(env: Mapping[str, str] | None = None) -> tuple[Any, str]:
    """``(credentials, how they were found)``; raises :class:`EarthEngineAuthError` naming all ways."""
    env = os.environ if env is None else env
    if env.get(ENV_KEY):
        return _service_account(env[ENV_KEY])
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        creds, _ = google.auth.default(scopes=SCOPES)
        return creds, "application default credentials"
    except DefaultCredentialsError:
        pass
    try:
        import ee

        args = ee.oauth.get_credentials_arguments()
    except (OSError, ValueError, KeyError):
        args = {}
    if args.get("refresh_token"):
        from google.oauth2.credentials import Credentials

        return Credentials(None, **args), "earthengine authenticate credentials"
    raise EarthEngineAuthError(f"no Earth Engine credentials found: {HOW_TO}")


def find_project(options: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    """The Cloud project Earth Engine bills and rate-limits against."""
    env = os.environ if env is None else env
    project = options.get("project") or env.get(ENV_PROJECT)
    if not project:
        raise EarthEngineAuthError(
            f"no Earth Engine Cloud project: set {ENV_PROJECT}=<project id> (or --ee-project); "
            "SOURCE=synthetic collects offline synthetic data instead"
        )
    return str(project)
