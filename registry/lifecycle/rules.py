"""Lifecycle rules: who may do what, which versions may be deployed or rolled back to, what the
deployment policies are asked and what their answer means. Pure functions, no I/O: the service
gathers the facts under its locks and asks here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.catalog.models import AgentStatus, AgentVersion
from registry.lifecycle.models import Deployment, DeploymentStatus, Violation

S = AgentStatus
NS_PER_S = 1_000_000_000
# The environment whose deployment is the agent's serving version (agents.current_version).
SERVING_ENVIRONMENT = "production"
DEPLOYERS = frozenset({"process", "docker", "kubernetes"})
APPROVERS = frozenset({Role.APPROVER, Role.ADMIN})


def may_manage(principal: Principal, team: str) -> bool:
    """Promote, roll back, deprecate: the owner team's publisher (self-service) or an admin."""
    if principal.role is Role.ADMIN:
        return True
    return principal.role is Role.PUBLISHER and principal.team == team


def may_approve(principal: Principal) -> bool:
    return principal.role in APPROVERS


def may_retire(principal: Principal, team: str) -> bool:
    """Retire and undeploy: an approver or admin, or the owner team's publisher."""
    return may_approve(principal) or may_manage(principal, team)


def deploy_refusal(version: AgentVersion) -> str | None:
    """Why this version can never be deployed (a 409), or None."""
    if version.status is S.RETIRED:
        return f"version {version.version} is retired and can never be deployed"
    if not version.artifact_uri or not version.artifact_sha256:
        return f"version {version.version} has no artifact to deploy"
    return None


def rollback_refusal(version: AgentVersion) -> str | None:
    """A rollback target must be ACTIVE or DEPRECATED, certified now, with an artifact."""
    if version.status not in (S.ACTIVE, S.DEPRECATED):
        return (
            f"version {version.version} is {version.status.value}; "
            "a rollback target must be active or deprecated"
        )
    if not version.certified:
        return f"version {version.version} holds no unexpired certificate"
    return deploy_refusal(version)


def retire_refusal(version: AgentVersion) -> str | None:
    if version.status is S.RETIRED:
        return f"version {version.version} is already retired"
    return None


def deprecate_refusal(version: AgentVersion) -> str | None:
    """ACTIVE versions are deprecated; a DEPRECATED one may get a new notice (sunset moved)."""
    if version.status not in (S.ACTIVE, S.DEPRECATED):
        status = version.status.value
        return f"version {version.version} is {status}; only an active one can be deprecated"
    return None


def sunset_refusal(sunset: datetime, now: datetime) -> str | None:
    """A 422 reason: the sunset must be a future moment with a time zone."""
    if sunset.tzinfo is None:
        return "sunset needs a time zone, e.g. 2027-01-01T00:00:00Z"
    if sunset <= now:
        return f"sunset {sunset.isoformat()} is not in the future"
    return None


def activates(version: AgentVersion) -> bool:
    """An allowed deployment makes a certified DRAFT ACTIVE (the catalog's activation rule:
    an uncertified draft may run where the policies allow it, e.g. staging, but stays DRAFT)."""
    return version.status is S.DRAFT and version.certified


def moves_serving_version(environment: str, status_after: AgentStatus) -> bool:
    return environment == SERVING_ENVIRONMENT and status_after is S.ACTIVE


def to_replace(live: Sequence[Deployment], version: str) -> Deployment | None:
    """The newest running deployment of another version in the same environment: the new one
    replaces it (the controller stops it once the new one is ready)."""
    running = [
        d
        for d in live
        if d.version != version
        and d.track == "stable"
        and d.status not in (DeploymentStatus.PENDING, DeploymentStatus.STOPPING)
    ]
    return max(running, key=lambda d: d.created_at, default=None)


def ns(when: datetime | None) -> int | None:
    return int(when.timestamp()) * NS_PER_S + when.microsecond * 1000 if when else None


def deploy_input(
    user: Principal,
    owner_team: str,
    version: AgentVersion,
    agent_id: str,
    environment: str,
    requested_by: str,
    approvals: Sequence[str],
    now: datetime,
) -> dict[str, Any]:
    """The input of the `deployment` policies (docs/lifecycle.md, "Policy gate")."""
    user_doc: dict[str, Any] = {"id": user.name}
    if user.team:
        user_doc["team"] = user.team
    return {
        "action": "deploy",
        "policy_types": ["deployment"],
        "user": user_doc,
        "agent": {
            "id": agent_id,
            "version": version.version,
            "status": version.status.value.upper(),
            "certificate_id": version.certificate_id,
            "certificate_expires_at": ns(version.certificate_expires_at),
            "owner_team": owner_team,
        },
        "deployment": {
            "environment": environment,
            "approvals": sorted(set(approvals)),
            "requested_by": requested_by,
        },
        "now": ns(now),
    }


@dataclass(frozen=True)
class Decision:
    allowed: bool
    violations: tuple[Violation, ...]
    warnings: tuple[Violation, ...]

    @property
    def status(self) -> DeploymentStatus:
        return DeploymentStatus.PROGRESSING if self.allowed else DeploymentStatus.PENDING


def _findings(raw: Any) -> tuple[Violation, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Violation(policy_id=str(f.get("policy_id", "")), message=str(f.get("message", "")))
        for f in raw
        if isinstance(f, dict)
    )


def decision_of(document: dict[str, Any]) -> Decision:
    """The engine's decision document; anything but an explicit allow is a denial."""
    violations = _findings(document.get("violations"))
    allowed = document.get("allow") is True and not violations
    if not allowed and not violations:
        violations = (Violation(policy_id="policy-engine", message="no decision"),)
    return Decision(allowed, violations, _findings(document.get("warnings")))
