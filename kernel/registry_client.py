"""The registry's HTTP API as the CLIs use it: base URL and token from the environment, errors
turned into one-line CliErrors (2 for a refused request, 1 for a server failure)."""

from __future__ import annotations

import os
from typing import Any

import httpx

from kernel.cli import CliError

DEFAULT_URL = "http://127.0.0.1:8700"


def registry_client(url: str | None = None) -> httpx.Client:
    """A client of the registry at `url` (default $GREENLANG_REGISTRY_URL or the local one)."""
    token = os.environ.get("GREENLANG_TOKEN")
    if not token:
        raise CliError("set GREENLANG_TOKEN (create one with: greenlang-registry token create)", 2)
    base = (url or os.environ.get("GREENLANG_REGISTRY_URL", DEFAULT_URL)).rstrip("/")
    return httpx.Client(
        base_url=base + "/api/v1", timeout=60, headers={"Authorization": f"Bearer {token}"}
    )


def check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
        message = body.get("detail") or body.get("title") or response.reason_phrase
    except ValueError:
        message = response.text.strip()[:200] or response.reason_phrase
    # 4xx: the request was wrong (bad input, not found, conflict); 5xx: the server failed.
    raise CliError(f"{response.status_code} {message}", 2 if response.status_code < 500 else 1)
