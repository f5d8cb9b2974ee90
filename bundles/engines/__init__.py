"""The policy-engine port: ask for data.greenlang.decision, get the decision document.

Two adapters give the same answer for the same bundle: `EmbeddedEngine` (OPA's `policy.wasm`,
in process through wasmtime) and `OpaHttpEngine` (a real OPA over its Data API). Both encode the
input with `bundles.engines.wire.encode_input`, which refuses values the engines would read
differently.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from bundles.engines.wire import EngineError, InputError
from bundles.layout import DECISION_ENTRYPOINT

__all__ = ["EngineError", "InputError", "PolicyEngine"]


@runtime_checkable
class PolicyEngine(Protocol):
    """Evaluates data.greenlang.decision for one input."""

    async def decide(
        self, input: dict[str, Any], entrypoint: str = DECISION_ENTRYPOINT
    ) -> dict[str, Any]:
        """The document at ``entrypoint``: the decision {allow, decision, violations, warnings,
        evaluated, denied_types, obligations}, or the verdict (the same without obligations)."""
        ...

    async def close(self) -> None:
        """Release connections or interpreter state."""
        ...
