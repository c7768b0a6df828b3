"""Where the CLI finds the API URL and token: flags, then environment variables, then the local stack's file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from client.errors import UsageError

ENV_API_URL = "SESSION_UPLOADS_API_URL"
ENV_TOKEN = "SESSION_UPLOADS_TOKEN"
# Written by the local stack (`make dev`) in the directory it was started from.
ENDPOINTS_FILE = Path(".devstack") / "endpoints.json"


@dataclass(frozen=True)
class Config:
    api_url: str
    token: str


def resolve(
    api_url: str | None,
    token: str | None,
    *,
    environ: Mapping[str, str] = os.environ,
    endpoints_file: Path = ENDPOINTS_FILE,
) -> Config:
    """Each setting from the first place that has it: the flag, the environment, then the endpoints file."""
    api_url = api_url or environ.get(ENV_API_URL) or None
    token = token or environ.get(ENV_TOKEN) or None
    if api_url is None or token is None:
        endpoints = _read_endpoints(endpoints_file)
        api_url = api_url or endpoints.get("apiUrl")
        token = token or endpoints.get("token")
    if not api_url:
        raise UsageError(f"no API URL: pass --api, set {ENV_API_URL}, or start the local stack (make dev)")
    if not token:
        raise UsageError(f"no token: pass --token, set {ENV_TOKEN}, or start the local stack (make dev)")
    return Config(str(api_url), str(token))


def _read_endpoints(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"cannot read {path}: not a JSON object")
    return data
