"""Usage of agents counted from sidecar audit events: per (agent, version), the calls, the errors
(HTTP status >= 500: the agent or the sidecar failed), the denials (decision `deny`: the policies
refused), the tokens and the last call (docs/registry.md, "Usage")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kernel.audit_event import SidecarEvent, event_at


@dataclass
class UsageDelta:
    agent_id: str
    version: str  # "" when the sidecar reported none
    calls: int
    errors: int
    denied: int
    total_tokens: int
    last_call_at: datetime


def event_tokens(event: SidecarEvent) -> int:
    """`tokens.total`, else prompt + completion, else 0."""
    tokens = event["tokens"]
    if tokens is None:
        return 0
    if tokens["total"] is not None:
        return tokens["total"]
    return (tokens["prompt"] or 0) + (tokens["completion"] or 0)


def tally(events: Iterable[SidecarEvent]) -> list[UsageDelta]:
    """One delta per (agent, version) of `events`, in key order."""
    deltas: dict[tuple[str, str], UsageDelta] = {}
    for e in events:
        key = (e["agent_id"], e["version"] or "")
        at = event_at(e)
        d = deltas.get(key)
        if d is None:
            d = deltas[key] = UsageDelta(*key, 0, 0, 0, 0, at)
        d.calls += 1
        d.errors += e["status"] >= 500
        d.denied += e["decision"] == "deny"
        d.total_tokens += event_tokens(e)
        d.last_call_at = max(d.last_call_at, at)
    return [deltas[k] for k in sorted(deltas)]
