"""One proxied call as the sidecar saw it, and the decision inputs and audit event made from it.

The pipeline fills a `Call` step by step; whatever happens (denied, failed, streamed), the same
record becomes one audit event and one set of metric samples, so they always agree.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from bundles.layout import DECISION_ENTRYPOINT, VERDICT_ENTRYPOINT
from kernel.audit_event import Finding, SidecarEvent, Verdict
from sidecar.auth import Principal
from sidecar.io_sample import IoSample
from sidecar.usage import Usage

RATE_LIMITING = "rate_limiting"
_MEASURED = ("rate", "tokens")  # per-call measurements: only rate_limiting policies get them


@dataclass(frozen=True, slots=True)
class Query:
    """One engine query and, when its answer may be reused (see decisions.py), its cache key:
    everything in the input that can differ between calls of this sidecar, except ``now``."""

    input: dict[str, Any]
    key: Hashable | None = None
    # The rate and post-execution parts need no obligations: they ask for the cheaper verdict.
    entrypoint: str = DECISION_ENTRYPOINT
    # The measured count of a rate query: its answer is reused for every count of the same rate
    # band (decisions.py), so `key` is narrowed to the band this count falls in.
    rate_current: int | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """The agent this sidecar guards and the facts it adds to every decision input."""

    agent_id: str
    version: str | None
    environment: str | None
    sidecar_id: str
    pre_policy_types: tuple[str, ...] = (
        "access_control",
        "rate_limiting",
        "compliance",
        "data_access",
    )
    post_policy_types: tuple[str, ...] = ("rate_limiting",)
    rate_window_s: int = 60
    token_window_s: int = 60  # the window of input.tokens.used (token budgets)


@dataclass(slots=True)
class Call:
    request_id: str
    method: str
    path: str
    version: str | None = None  # --agent-version, else the version the catalog says serves
    started_ns: int = field(default_factory=time.time_ns)
    trace_id: str | None = None
    principal: Principal | None = None
    data_classification: str | None = None
    decision: Verdict = "error"
    violations: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    denied_types: list[str] = field(default_factory=list)
    status: int = 0
    sample: IoSample | None = None  # the bodies of a call picked for an io_sample line
    usage: Usage | None = None
    # Tokens the caller used in the window before this call, when a token budget may apply
    # (None: none applies, nothing is counted); the call's own usage is added once known.
    tokens_used: int | None = None
    spent: bool = False  # the call's usage was added to the caller's window
    error: str | None = None  # agent_errors_total type, when the call failed
    decided_by_sidecar: bool = False  # the status is the sidecar's answer, not the agent's
    overhead_s: float = 0.0  # time spent in the sidecar itself (pre + post phases)
    # The decision inputs asked (pre, post) and the mask patterns they are kept under; `input`
    # is what the audit event keeps of them (sidecar/decision_input.py).
    pre_input: dict[str, Any] | None = None
    post_input: dict[str, Any] | None = None
    mask: tuple[tuple[str, str], ...] | None = None  # None: no obligations known
    input: dict[str, Any] | None = None

    def key(self) -> tuple[Hashable, ...]:
        """What a decision input takes from the call (the target's facts are constant)."""
        p = self.principal
        who = (p.id, p.roles, p.team) if p is not None else None
        return (who, self.method, self.path, self.data_classification)

    def fail(self, error: str) -> None:
        """Note what went wrong (an agent_errors_total type), e.g. a stream cut mid-way."""
        self.error = error

    def adopt(self, decision: dict[str, Any]) -> None:
        """Take the decision's verdict and findings (both engines return the same shape)."""
        # Both engines answer allow | warn | deny (rego/); the registry refuses anything else.
        self.decision = cast(Verdict, str(decision.get("decision", "deny")))
        self.violations = list(decision.get("violations") or [])
        self.warnings = list(decision.get("warnings") or [])
        self.denied_types = list(decision.get("denied_types") or [])


def pre_input(target: Target, call: Call, rate_current: int) -> dict[str, Any]:
    """The pre-execution decision input (docs/policies.md, Decision input)."""
    doc = _common(target, call, "pre", target.pre_policy_types)
    doc["rate"] = {"current": rate_current, "window_s": target.rate_window_s}
    if call.tokens_used is not None:
        doc["tokens"] = {"used": call.tokens_used, "window_s": target.token_window_s}
    return doc


def asked_input(queries: list[Query], types: tuple[str, ...]) -> dict[str, Any]:
    """The one pre-execution input ``queries`` split (every key, all the policy types)."""
    if len(queries) == 1:
        return queries[0].input
    merged: dict[str, Any] = {}
    for q in queries:
        merged.update(q.input)
    merged["policy_types"] = list(types)
    return merged


def pre_queries(target: Target, call: Call, rate_current: int, *, split: bool) -> list[Query]:
    """The pre-execution decision as queries: the rate part (with the measured rate: cacheable
    per rate band) and the rest (no rate: the same for every call of this caller and request).
    ``rate`` and ``tokens`` are given only to rate_limiting policies (docs/sidecar.md,
    Decisions). With ``tokens`` (a token budget may apply) the rate part is asked every call:
    its verdict changes with every token used."""
    doc = pre_input(target, call, rate_current)
    types = target.pre_policy_types
    fixed = {k: v for k, v in doc.items() if k not in _MEASURED}
    if RATE_LIMITING not in types:
        return [Query(fixed, ("pre", call.key()))]
    rest = [t for t in types if t != RATE_LIMITING]
    if not split or not rest:
        return [Query(doc)]
    rate = {**doc, "policy_types": [RATE_LIMITING]}
    return [
        Query({**fixed, "policy_types": rest}, ("pre", call.key())),
        Query(rate, entrypoint=VERDICT_ENTRYPOINT)
        if "tokens" in doc
        else Query(rate, ("rate", call.key()), VERDICT_ENTRYPOINT, rate_current),
    ]


def post_query(target: Target, call: Call, usage: Usage) -> Query:
    """The post-execution input: the call's facts plus the token usage the agent reported."""
    doc = _common(target, call, "post", target.post_policy_types)
    doc["usage"] = usage.as_input()
    return Query(doc, ("post", call.key(), usage), VERDICT_ENTRYPOINT)


def _common(target: Target, call: Call, phase: str, types: tuple[str, ...]) -> dict[str, Any]:
    principal = call.principal
    user: dict[str, Any] = {}
    if principal is not None:
        user = {"id": principal.id, "roles": list(principal.roles)}
        if principal.team is not None:
            user["team"] = principal.team
    agent: dict[str, Any] = {"id": target.agent_id}
    if target.version:
        agent["version"] = target.version
    request: dict[str, Any] = {"method": call.method, "path": call.path}
    if call.data_classification:
        request["data_classification"] = call.data_classification
    doc: dict[str, Any] = {
        "action": "invoke",
        "phase": phase,
        "policy_types": list(types),
        "user": user,
        "agent": agent,
        "request": request,
        "now": time.time_ns(),
    }
    if target.environment:
        doc["deployment"] = {"environment": target.environment}
    return doc


def audit_event(target: Target, call: Call, latency_s: float) -> SidecarEvent:
    """The audit event for the registry's intake (docs/sidecar.md, Audit): a plain dict that
    mypy checks against the kernel's definition, validated only by the registry."""
    return {
        "event_id": str(uuid.uuid4()),
        "time": datetime.fromtimestamp(call.started_ns / 1e9, UTC).isoformat(),
        "sidecar": target.sidecar_id,
        "request_id": call.request_id,
        "trace_id": call.trace_id,
        "user_id": call.principal.id[:1024] if call.principal else None,
        "agent_id": target.agent_id,
        "version": call.version,
        "action": "invoke",
        "method": call.method,
        "path": call.path.replace("\x00", "")[:16384],
        "environment": target.environment,
        "decision": call.decision,
        "violations": call.violations,
        "warnings": call.warnings,
        "status": call.status,
        "latency_ms": round(latency_s * 1000, 3),
        "tokens": call.usage.as_event() if call.usage else None,
        "error": call.error,
        "input": call.input,
    }
