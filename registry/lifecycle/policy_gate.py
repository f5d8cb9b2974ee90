"""The deployment policy gate: the registry asks the embedded engine over its own current bundle
(the one its sidecars and OPAs load), so a promotion is judged by exactly the policies that are
enforced at runtime. One engine is kept per bundle revision; a new revision builds a new one."""

from __future__ import annotations

import asyncio
from typing import Any

from bundles.engines.embedded import EmbeddedEngine
from bundles.engines.wire import EngineError
from registry.control_plane.bundle import BundleServer
from registry.errors import ServiceUnavailable
from registry.lifecycle.rules import Decision, decision_of


class PolicyGate:
    def __init__(self, bundles: BundleServer) -> None:
        self._bundles = bundles
        self._lock = asyncio.Lock()
        self._engine: EmbeddedEngine | None = None
        self._revision: str | None = None

    async def engine(self) -> EmbeddedEngine:
        """The engine of the current bundle (fetch it before opening a transaction: building a
        bundle reads the store)."""
        async with self._lock:
            built = await self._bundles.current()
            key = f"{built.revision}:{built.sha256}"
            if self._engine is None or self._revision != key:
                try:
                    self._engine = await asyncio.to_thread(
                        EmbeddedEngine.from_bundle, built.content, previous=self._engine
                    )
                except EngineError as exc:
                    raise ServiceUnavailable(f"the policy engine cannot load: {exc}") from None
                self._revision = key
            return self._engine

    @staticmethod
    def decide(engine: EmbeddedEngine, policy_input: dict[str, Any]) -> Decision:
        try:
            return decision_of(engine.decide_sync(policy_input))
        except EngineError as exc:
            raise ServiceUnavailable(f"the policy engine failed: {exc}") from None
