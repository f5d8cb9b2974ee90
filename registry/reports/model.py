"""The compliance report's shape (docs/reports.md): what the JSON format is, and what the HTML
and PolicyReport renderings are made from."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

TARGET_VIOLATION_RATE = 0.001  # the plan's exit criterion: "< 0.1% violation rate"


class Counts(BaseModel):
    calls: int = 0
    allowed: int = 0
    warned: int = 0
    denied: int = 0
    refused: int = Field(0, description="decision error: no decision, call refused (fail closed)")
    fail_open: int = Field(0, description="decision fail_open: no decision, call let through")
    violating: int = Field(0, description="calls with at least one policy violation")
    violation_rate: float = Field(0.0, description="violating / calls (0 without calls)")
    target_met: bool = Field(True, description="violation_rate < 0.001")


class PolicyCount(BaseModel):
    policy_id: str
    violations: int = Field(description="calls that violated the policy")
    warnings: int = Field(description="calls the policy warned about")
    violation_rate: float = Field(description="violations / calls of the scope it is listed in")
    examples: list[str] = Field(description="request ids of up to three violating calls")


class CertificateState(BaseModel):
    state: Literal["valid", "expired", "none"]
    certificate_id: str | None = None
    expires_at: datetime | None = None


class VersionReport(BaseModel):
    version: str = Field(description="'' for calls reported without a version")
    counts: Counts
    certificate: CertificateState


LifecycleKind = Literal["promotion", "deprecation", "retirement", "rollback", "canary_verdict"]


class LifecycleEvent(BaseModel):
    at: datetime
    kind: LifecycleKind
    action: str
    target: str
    actor: str
    reason: str | None


class ScoreParts(BaseModel):
    violations: float = Field(description="0-50: 50 at or under the target rate, 0 at 1%")
    decisions: float = Field(description="0-20: share of calls that got a policy decision")
    certificates: float = Field(description="0-15: share of called versions certified now")
    audit_chain: float = Field(description="0-15: 15 when the audit chain verifies")


class AgentReport(BaseModel):
    agent_id: str
    name: str
    team: str
    regulatory_scope: list[str]
    counts: Counts
    policies: list[PolicyCount] = Field(description="violated or warning policies, most first")
    versions: list[VersionReport]
    lifecycle: list[LifecycleEvent]
    score: float
    score_parts: ScoreParts


class GroupTotals(BaseModel):
    name: str
    agents: int
    counts: Counts
    score: float


class DailyPoint(BaseModel):
    day: date
    calls: int
    violating: int


class ChainResult(BaseModel):
    ok: bool
    head_seq: int = Field(description="the last audit event covered")
    rehashed: int = Field(description="events whose hash this report recomputed")
    checkpoint_seq: int | None = Field(description="verified earlier, up to this event")
    checkpoint_verified_at: datetime | None
    broken_at_seq: int | None = None
    problem: str | None = None


class Period(BaseModel):
    start: date = Field(description="first day (UTC), inclusive")
    end: date = Field(description="last day (UTC), inclusive")


class ReportFilter(BaseModel):
    agent: str | None = None
    team: str | None = None
    scope: str | None = None


class ComplianceReport(BaseModel):
    generated_at: datetime
    period: Period
    filter: ReportFilter
    target_violation_rate: float = TARGET_VIOLATION_RATE
    totals: Counts
    score: float
    policies: list[PolicyCount]
    agents: list[AgentReport]
    teams: list[GroupTotals]
    scopes: list[GroupTotals]
    daily: list[DailyPoint]
    audit_chain: ChainResult
