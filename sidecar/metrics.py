"""Prometheus metrics of one sidecar, on its own registry.

Names follow the product plan (``agent_*``, ``governance_violations_total``) plus the sidecar's own
``sidecar_*`` series. Each :class:`SidecarMetrics` owns a :class:`CollectorRegistry` (unless one is
passed), so tests and several sidecars in one process never clash over global names.

The request pipeline works through :meth:`SidecarMetrics.for_agent`, which binds every label child
of the sidecar's fixed ``agent_id``/``version`` once: the hot path is then a dict lookup and a
locked add per series, never a ``.labels()`` call.

Label values are bounded by construction: ``status`` is one of :data:`OUTCOMES`, ``phase`` one of
:data:`OVERHEAD_PHASES`, ``decision`` one of :data:`DECISIONS`, error ``type`` a short code chosen
by the sidecar (the ``ERROR_*`` constants), and policy ids/models come from the policy bundle and
the agent. Nothing from a request path or caller identity becomes a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

# --- caller-facing outcome of one invocation: agent_invocations_total{status} -------------------
SUCCESS: Final = "success"  # 1xx/2xx/3xx from the agent
CLIENT_ERROR: Final = "client_error"  # 4xx from the agent, or the sidecar's 400/413
SERVER_ERROR: Final = "server_error"  # 5xx from the agent, 502/504 when it is unreachable/slow
DENIED: Final = "denied"  # 403/429 by policy
UNAUTHENTICATED: Final = "unauthenticated"  # 401 from the sidecar
UNAVAILABLE: Final = "unavailable"  # 503 from the sidecar: no policy decision could be had
OUTCOMES: Final = (SUCCESS, CLIENT_ERROR, SERVER_ERROR, DENIED, UNAUTHENTICATED, UNAVAILABLE)

# --- agent_errors_total{type}: what went wrong, as short stable codes ----------------------------
ERROR_UPSTREAM_UNREACHABLE: Final = "upstream_unreachable"  # no connection could be made
ERROR_UPSTREAM_RESET: Final = "upstream_reset"  # closed before the answer was complete
ERROR_UPSTREAM_PROTOCOL: Final = "upstream_protocol_error"  # the answer is not HTTP
ERROR_UPSTREAM_TIMEOUT: Final = "upstream_timeout"  # silent longer than timeout_s
ERROR_DECISION_UNAVAILABLE: Final = "decision_unavailable"
ERROR_AUDIT_UNAVAILABLE: Final = "audit_unavailable"
ERROR_BAD_REQUEST: Final = "bad_request"
ERROR_REQUEST_TOO_LARGE: Final = "request_too_large"
ERROR_RESPONSE_TOO_LARGE: Final = "response_too_large"
ERROR_MASKING_FAILED: Final = "masking_failed"
ERROR_RATE_STORE_UNAVAILABLE: Final = "rate_store_unavailable"

# --- sidecar_decisions_total{decision} ------------------------------------------------------------
DECISIONS: Final = ("allow", "warn", "deny", "error", "fail_open")

# --- sidecar_overhead_seconds{phase} --------------------------------------------------------------
PHASE_PRE: Final = "pre"  # request received -> forwarded upstream (authn, rate, decision)
PHASE_POST: Final = "post"  # upstream answered -> response done (usage, post decision, masking)
PHASE_TOTAL: Final = "total"  # pre + post: the time the sidecar added to the call
OVERHEAD_PHASES: Final = (PHASE_PRE, PHASE_POST, PHASE_TOTAL)

UNKNOWN: Final = "unknown"  # label value for an absent model, policy type or agent version

INVOCATION_BUCKETS: Final = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
OVERHEAD_BUCKETS: Final = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
)

_SIDECAR_STATUSES: Final = {401: UNAUTHENTICATED, 403: DENIED, 429: DENIED, 503: UNAVAILABLE}


def outcome(status_code: int, decided_by_sidecar: bool) -> str:
    """The ``status`` label for a response with ``status_code``.

    ``decided_by_sidecar`` is true when the sidecar itself answered (authentication, policy, no
    decision, upstream unreachable/timeout, size limits) rather than relaying the agent's status.
    A 401/403/429/503 the *agent* returns is its own client/server error, not a policy outcome.
    """
    if decided_by_sidecar:
        label = _SIDECAR_STATUSES.get(status_code)
        if label is not None:
            return label
    if status_code < 400:
        return SUCCESS
    if status_code < 500:
        return CLIENT_ERROR
    return SERVER_ERROR


def _version_label(version: str | None) -> str:
    return version if version else UNKNOWN


class AgentMetrics:
    """Label children of one agent/version, bound once; what the request pipeline calls.

    Every method is a dict lookup plus one or two locked float updates (about 1 µs).
    """

    __slots__ = (
        "_calls",
        "_concurrent",
        "_decisions",
        "_duration",
        "_errors",
        "_metrics",
        "_overhead",
        "_tokens",
        "agent_id",
        "version",
    )

    def __init__(self, metrics: SidecarMetrics, agent_id: str, version: str | None) -> None:
        self._metrics = metrics
        self.agent_id = agent_id
        self.version = _version_label(version)
        self._calls = {s: metrics.invocations.labels(agent_id, self.version, s) for s in OUTCOMES}
        self._duration = metrics.invocation_duration.labels(agent_id, self.version)
        self._concurrent = metrics.concurrent_executions.labels(agent_id)
        self._errors: dict[str, Any] = {}
        self._tokens: dict[str, Any] = {}
        self._overhead = metrics._overhead_children
        self._decisions = metrics._decision_children

    def record_call(
        self,
        status_code: int,
        decided_by_sidecar: bool,
        duration_s: float,
        trace_id: str | None = None,
    ) -> str:
        """Count one invocation and its latency; returns the ``status`` label it counted under
        (:func:`outcome` of ``status_code``/``decided_by_sidecar``).

        ``trace_id`` (32 hex) becomes an exemplar of the duration histogram (shown in the
        OpenMetrics exposition only).
        """
        label = outcome(status_code, decided_by_sidecar)
        self.record_outcome(label, duration_s, trace_id)
        return label

    def record_outcome(self, status: str, duration_s: float, trace_id: str | None = None) -> None:
        """Like :meth:`record_call` with the label already known (one of :data:`OUTCOMES`)."""
        self._calls[status].inc()  # KeyError for a label outside OUTCOMES
        if trace_id is None:
            self._duration.observe(duration_s)
        else:
            self._duration.observe(duration_s, {"trace_id": trace_id})

    def record_error(self, type_: str) -> None:
        child = self._errors.get(type_)
        if child is None:
            child = self._metrics.errors.labels(self.agent_id, self.version, type_)
            self._errors[type_] = child
        child.inc()

    def record_tokens(self, model: str | None, count: int) -> None:
        """Add ``count`` tokens under ``model`` ("unknown" when None/empty); 0 adds nothing."""
        if count <= 0:
            return
        key = model or UNKNOWN
        child = self._tokens.get(key)
        if child is None:
            child = self._metrics.tokens.labels(self.agent_id, self.version, key)
            self._tokens[key] = child
        child.inc(count)

    def concurrent_inc(self) -> None:
        """One more execution in flight; pair with :meth:`concurrent_dec` in a ``finally``."""
        self._concurrent.inc()

    def concurrent_dec(self) -> None:
        self._concurrent.dec()

    @contextmanager
    def concurrent(self) -> Iterator[None]:
        self._concurrent.inc()
        try:
            yield
        finally:
            self._concurrent.dec()

    def record_decision(self, decision: str) -> None:
        self._decisions[decision].inc()  # KeyError for a label outside DECISIONS

    def observe_overhead(self, phase: str, seconds: float) -> None:
        self._overhead[phase].observe(seconds)  # KeyError for a phase outside OVERHEAD_PHASES

    def record_violations(
        self, findings: Iterable[Mapping[str, Any]], types: Mapping[str, str] | None = None
    ) -> int:
        return self._metrics.record_violations(findings, types)


class SidecarMetrics:
    """Every metric the sidecar exports, registered on ``registry`` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.invocations = Counter(
            "agent_invocations_total",
            "Agent invocations through the sidecar, by caller-facing outcome",
            ["agent_id", "version", "status"],
            registry=r,
        )
        self.invocation_duration = Histogram(
            "agent_invocation_duration_seconds",
            "Invocation latency seen by the caller (sidecar included)",
            ["agent_id", "version"],
            buckets=INVOCATION_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "agent_errors_total",
            "Invocation errors by type (upstream_unreachable, upstream_timeout, ...)",
            ["agent_id", "version", "type"],
            registry=r,
        )
        self.tokens = Counter(
            "agent_tokens_used_total",
            "LLM tokens reported by the agent's responses",
            ["agent_id", "version", "model"],
            registry=r,
        )
        self.concurrent_executions = Gauge(
            "agent_concurrent_executions",
            "Invocations in flight through the sidecar",
            ["agent_id"],
            registry=r,
        )
        self.violations = Counter(
            "governance_violations_total",
            "Policy violations in decisions (warnings are not counted)",
            ["policy_id", "type"],
            registry=r,
        )
        self.overhead = Histogram(
            "sidecar_overhead_seconds",
            "Time the sidecar adds to a call, by phase (pre, post, total)",
            ["phase"],
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "sidecar_decisions_total",
            "Policy decisions by result (allow, warn, deny, error, fail_open)",
            ["decision"],
            registry=r,
        )
        self.bundle_info = Gauge(
            "sidecar_bundle_info",
            "The policy bundle revision in use (value 1)",
            ["revision"],
            registry=r,
        )
        self.bundle_loaded = Gauge(
            "sidecar_bundle_loaded_timestamp_seconds",
            "Unix time the policy bundle in use was activated (age: time() - this)",
            registry=r,
        )
        self.bundle_checked = Gauge(
            "sidecar_bundle_last_success_timestamp_seconds",
            "Unix time of the last successful bundle poll, changed or not (0: never, or a "
            "bundle file / OPA source that does not poll); the bundle-stale alert watches it",
            registry=r,
        )
        self.rate_store_up = Gauge(
            "sidecar_rate_store_up",
            "0 while the shared rate store (--rate-store) cannot be reached, else 1",
            registry=r,
        )
        self.rate_store_up.set(1)
        self.audit_spool_events = Gauge(
            "sidecar_audit_spool_events",
            "Audit events spooled locally and not yet accepted by the registry",
            registry=r,
        )
        self.routed_calls = Counter(
            "sidecar_routed_calls_total",
            "Calls forwarded to another version's sidecars (canary routing); the serving "
            "sidecar audits and counts them as invocations",
            ["agent_id", "version", "to_version"],
            registry=r,
        )
        self.route_fallbacks = Counter(
            "sidecar_route_fallbacks_total",
            "Calls served locally because the version they were routed to could not be reached",
            ["agent_id", "to_version"],
            registry=r,
        )
        self.canary_weight = Gauge(
            "sidecar_canary_weight",
            "Percent of calls this sidecar sends to the canary (0 when it splits nothing)",
            ["agent_id"],
            registry=r,
        )
        self.route_poll_failures = Counter(
            "sidecar_route_poll_failures_total",
            "Route polls that failed (the last good route stays in use)",
            registry=r,
        )
        self.bundle_verification_failures = Counter(
            "sidecar_bundle_verification_failures",
            "Bundles refused because their signature did not verify with --verification-key "
            "(tampered, or signed with another key); the last good bundle stays in use",
            registry=r,
        )
        self._verification_failures_seen = 0
        self._overhead_children = {p: self.overhead.labels(p) for p in OVERHEAD_PHASES}
        self._decision_children = {d: self.decisions.labels(d) for d in DECISIONS}
        self._bundle_revision: str | None = None

    def for_agent(self, agent_id: str, version: str | None = None) -> AgentMetrics:
        """Pre-bound children for one agent (``version`` None -> label "unknown")."""
        return AgentMetrics(self, agent_id, version)

    # Unbound variants: each does the ``.labels()`` lookup (a few µs); fine off the hot path.

    def record_call(
        self,
        agent_id: str,
        version: str | None,
        status: str,
        duration_s: float,
        trace_id: str | None = None,
    ) -> None:
        """Count one invocation under the ``status`` label (one of :data:`OUTCOMES`)."""
        if status not in OUTCOMES:
            raise ValueError(f"status must be one of {OUTCOMES}, got {status!r}")
        v = _version_label(version)
        self.invocations.labels(agent_id, v, status).inc()
        exemplar = {"trace_id": trace_id} if trace_id else None
        self.invocation_duration.labels(agent_id, v).observe(duration_s, exemplar)

    def record_error(self, agent_id: str, version: str | None, type_: str) -> None:
        self.errors.labels(agent_id, _version_label(version), type_).inc()

    def record_tokens(
        self, agent_id: str, version: str | None, model: str | None, count: int
    ) -> None:
        if count > 0:
            self.tokens.labels(agent_id, _version_label(version), model or UNKNOWN).inc(count)

    @contextmanager
    def concurrent(self, agent_id: str) -> Iterator[None]:
        gauge = self.concurrent_executions.labels(agent_id)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def record_violations(
        self, findings: Iterable[Mapping[str, Any]], types: Mapping[str, str] | None = None
    ) -> int:
        """Count each violation ``{"policy_id", "message"}`` of a decision; returns how many.

        ``types`` maps policy id -> policy type (from the bundle's policy metadata); an id it
        does not name counts with type "unknown". Warnings are not violations: don't pass them.
        """
        n = 0
        for finding in findings:
            policy_id = str(finding.get("policy_id") or UNKNOWN)
            ptype = types.get(policy_id, UNKNOWN) if types else UNKNOWN
            self.violations.labels(policy_id, ptype).inc()
            n += 1
        return n

    def record_decision(self, decision: str) -> None:
        child = self._decision_children.get(decision)
        if child is None:
            raise ValueError(f"decision must be one of {DECISIONS}, got {decision!r}")
        child.inc()

    def observe_overhead(self, phase: str, seconds: float) -> None:
        child = self._overhead_children.get(phase)
        if child is None:
            raise ValueError(f"phase must be one of {OVERHEAD_PHASES}, got {phase!r}")
        child.observe(seconds)

    def set_bundle(self, revision: str, activated_at: float | None = None) -> None:
        """The bundle in use changed: one ``sidecar_bundle_info`` series, the new revision."""
        if revision != self._bundle_revision:
            if self._bundle_revision is not None:
                self.bundle_info.remove(self._bundle_revision)
            self.bundle_info.labels(revision).set(1)
            self._bundle_revision = revision
        self.bundle_loaded.set(time.time() if activated_at is None else activated_at)

    def set_bundle_checked(self, monotonic_at: float) -> None:
        """A bundle poll succeeded at ``monotonic_at`` (monotonic clock); exported as Unix time."""
        self.bundle_checked.set(time.time() - (time.monotonic() - monotonic_at))

    def set_bundle_verification_failures(self, total: int) -> None:
        """The policy source has refused ``total`` bundles so far: count the new ones."""
        if total > self._verification_failures_seen:
            self.bundle_verification_failures.inc(total - self._verification_failures_seen)
            self._verification_failures_seen = total

    def set_audit_spool_events(self, count: int) -> None:
        self.audit_spool_events.set(count)

    def set_rate_store_up(self, up: bool) -> None:
        self.rate_store_up.set(1 if up else 0)

    def track_audit_spool(self, count: Callable[[], float]) -> None:
        """Read the spool size at scrape time from ``count`` instead of pushing it."""
        self.audit_spool_events.set_function(count)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """Exposition body and content type for the admin ``/metrics`` endpoint.

        Prometheus text format by default; OpenMetrics (with exemplars) when ``accept`` (the
        request's ``Accept`` header) asks for ``application/openmetrics-text``.
        """
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
