"""A real OPA as the policy engine, over its Data API (`POST /v1/data/greenlang/decision`).

One keep-alive httpx.AsyncClient per engine; the input is encoded exactly as for the embedded
engine (bundles.engines.wire), so both see the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from bundles.engines.wire import EngineError, encode_input
from bundles.layout import DECISION_ENTRYPOINT


class OpaHttpEngine:
    """PolicyEngine backed by an OPA server at `url` (e.g. http://127.0.0.1:8181)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        token: str | None = None,
    ) -> None:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._path = f"/v1/data/{DECISION_ENTRYPOINT}"
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            base_url=url.rstrip("/"),
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=32, keepalive_expiry=60),
        )
        self._headers = headers

    async def decide(self, input: dict[str, Any]) -> dict[str, Any]:
        body = '{"input":' + encode_input(input) + "}"
        try:
            response = await self._client.post(
                self._path, content=body.encode(), headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise EngineError(f"OPA is unreachable: {exc!r}") from None
        if response.status_code != 200:
            raise EngineError(f"OPA answered {response.status_code}: {response.text[:300]}")
        try:
            payload = response.json()
        except json.JSONDecodeError:
            raise EngineError("OPA answered with invalid JSON") from None
        result = payload.get("result") if isinstance(payload, dict) else None
        if not isinstance(result, dict):
            raise EngineError("the decision is undefined (is the bundle loaded in OPA?)")
        return result

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
