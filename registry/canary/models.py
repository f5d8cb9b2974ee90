"""JSON shapes of canary releases: the start request, the stored canary with its intervals, and
the route a sidecar polls (which versions serve an agent's calls, and in what shares).

The state machine and the analysis rules are in docs/lifecycle.md ("Canary releases"); the pure
analysis is registry/canary/analysis.py, the stored record migration 010_canary.sql."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kernel.route import CanaryBackend, Route, RouteBackend
from registry.catalog.models import SemVer
from registry.lifecycle.models import NAME


class CanaryStatus(StrEnum):
    STARTING = "starting"  # its deployment awaits approval or readiness; no traffic yet
    RUNNING = "running"  # analysed every interval at `weight`
    PROMOTING = "promoting"  # the canary serves everything; the old stable drains
    ROLLING_BACK = "rolling_back"  # stable serves everything; the canary drains
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"

    @property
    def finished(self) -> bool:
        return self in (CanaryStatus.PROMOTED, CanaryStatus.ROLLED_BACK)


ACTIVE = tuple(s for s in CanaryStatus if not s.finished)


class CanaryRequest(BaseModel):
    """POST /api/v1/agents/{agent_id}/canary (`greenlang-lifecycle canary start`)."""

    model_config = ConfigDict(extra="forbid")

    version: SemVer
    environment: str = Field(default="production", pattern=NAME)
    weight: int | None = Field(
        default=None, ge=1, le=99, description="The first step's weight; default step_weights[0]"
    )
    step_weights: list[int] = Field(default=[10, 25, 50], min_length=1, max_length=20)
    interval_s: float = Field(default=30.0, ge=1, le=86400)
    threshold: int = Field(default=3, ge=1, le=100)
    min_success_rate: float = Field(default=99.0, ge=0, le=100, allow_inf_nan=False)
    max_p99_ms: float = Field(default=500.0, gt=0, le=3_600_000, allow_inf_nan=False)
    min_requests: int = Field(default=20, ge=1, le=1_000_000)
    inconclusive_budget: int = Field(default=5, ge=1, le=100)


class AbortRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)


class CanarySettingsDoc(BaseModel):
    """What the canary is judged against (stored with it, so a restart judges the same way)."""

    step_weights: list[int]
    threshold: int
    min_success_rate: float
    max_p99_ms: float
    min_requests: int
    inconclusive_budget: int
    interval_s: float


class CanaryInterval(BaseModel):
    """One analysed interval: the measured values and the verdict with its reason."""

    n: int
    started_at: datetime
    ended_at: datetime
    weight: int
    calls: int
    errors_5xx: int
    success_rate: float | None = Field(description="Percent of calls that were not 5xx")
    p99_ms: float | None
    violations: int = Field(description="Canary calls denied by policy")
    violation_rate: float | None
    stable_calls: int
    stable_violations: int
    stable_violation_rate: float | None
    action: str = Field(description="advance | hold | inconclusive | rollback | promote")
    failed: list[str] = Field(description="Failed checks: success_rate, p99, violations")
    reason: str


class Canary(BaseModel):
    canary_id: str
    agent_id: str
    environment: str
    stable_deployment_id: str
    canary_deployment_id: str
    stable_version: str
    canary_version: str
    settings: CanarySettingsDoc
    status: CanaryStatus
    step: int
    weight: int = Field(description="Percent of calls the canary receives now")
    failed_checks: int
    inconclusive_count: int
    interval_started_at: datetime | None
    drain_until: datetime | None
    reason: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    intervals: list[CanaryInterval] = Field(default_factory=list, description="Oldest first")


__all__ = [
    "ACTIVE", "AbortRequest", "Canary", "CanaryBackend", "CanaryInterval", "CanaryRequest",
    "CanarySettingsDoc", "CanaryStatus", "Route", "RouteBackend",
]  # fmt: skip
