"""Re-deciding one recorded call, exactly as the sidecar decided it (sidecar/enforcer.py).

The recorded input is ``{"pre": input, "post": input | null}``: the pre-execution input with
every pre policy type (the sidecar may have split it into a cached part and a rate part; a
query over all the types returns their union, sidecar/decisions.py), and the post-execution
input (token usage) when the agent reported usage. ``now`` and ``rate.current`` are the
recorded ones, so time- and rate-dependent policies decide as they did then; the catalog and
the role bindings are today's (the bundle's data)."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from bundles.engines.wire import EngineError, InputError
from bundles.layout import DECISION_ENTRYPOINT, VERDICT_ENTRYPOINT

Verdict = Literal["allow", "warn", "deny", "error"]


class SyncEngine(Protocol):
    def decide_sync(
        self, input: dict[str, Any], entrypoint: str = DECISION_ENTRYPOINT
    ) -> dict[str, Any]: ...


def redecide(engine: SyncEngine, recorded: dict[str, Any]) -> Verdict:
    """The verdict of ``engine`` for a recorded input; ``error`` when it cannot decide (the
    sidecar would have refused the call: fail closed)."""
    pre, post = recorded.get("pre"), recorded.get("post")
    if not isinstance(pre, dict):
        return "error"
    try:
        decision = engine.decide_sync(pre, DECISION_ENTRYPOINT)
        verdict = _verdict(decision)
        if verdict == "deny" or not isinstance(post, dict):
            return verdict
        after = engine.decide_sync(post, VERDICT_ENTRYPOINT)
    except (EngineError, InputError):
        return "error"
    if after.get("violations"):
        return "deny"
    return "warn" if verdict == "warn" or after.get("warnings") else verdict


def _verdict(decision: dict[str, Any]) -> Verdict:
    value = decision.get("decision")
    return value if value in ("allow", "warn", "deny") else "deny"
