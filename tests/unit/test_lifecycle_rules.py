"""The pure lifecycle rules (registry/lifecycle/rules.py): roles, refusals, the policy input and
how an engine's answer is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from registry.auth.models import Role
from registry.auth.principal import Principal
from registry.catalog.models import AgentStatus, AgentVersion
from registry.lifecycle import rules
from registry.lifecycle.models import Deployment, DeploymentStatus, Desired, Violation

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
S = AgentStatus


def version(status: AgentStatus = S.ACTIVE, **over: Any) -> AgentVersion:
    fields: dict[str, Any] = {
        "version": "1.2.0",
        "status": status,
        "spec_hash": "h",
        "artifact_uri": "file:///a",
        "artifact_sha256": "a" * 64,
        "artifact_size": 3,
        "certificate_id": "CERT-1",
        "certificate_expires_at": NOW + timedelta(days=1),
        "certified": True,
        "created_at": NOW,
        "created_by": "t",
        "updated_at": NOW,
        "changelog": "",
        "status_reason": None,
        "row_version": 1,
    }
    return AgentVersion.model_validate(fields | over)


def deployment(dep_id: str, ver: str, status: DeploymentStatus, minute: int) -> Deployment:
    at = NOW + timedelta(minutes=minute)
    return Deployment(
        deployment_id=dep_id,
        agent_id="gl-a",
        version=ver,
        environment="production",
        replicas=1,
        traffic_weight=100,
        track="stable",
        deployer="process",
        desired=Desired.RUNNING,
        status=status,
        requested_by="pub",
        replaces=None,
        violations=[],
        approvals=[],
        instances=[],
        endpoint=None,
        message="",
        stop_reason=None,
        created_at=at,
        updated_at=at,
        ready_at=None,
        stopped_at=None,
        observed_at=None,
    )


PUB = Principal("t1", "pub", Role.PUBLISHER, "team-a")


def test_roles() -> None:
    other = Principal("t2", "o", Role.PUBLISHER, "team-b")
    admin = Principal("t3", "adm", Role.ADMIN, None)
    approver = Principal("t4", "ap", Role.APPROVER, None)
    viewer = Principal("t5", "v", Role.VIEWER, "team-a")
    assert rules.may_manage(PUB, "team-a") and rules.may_manage(admin, "team-a")
    assert not rules.may_manage(other, "team-a") and not rules.may_manage(approver, "team-a")
    assert rules.may_approve(approver) and rules.may_approve(admin)
    assert not rules.may_approve(PUB) and not rules.may_approve(viewer)
    assert rules.may_retire(approver, "team-a") and rules.may_retire(PUB, "team-a")
    assert not rules.may_retire(other, "team-a") and not rules.may_retire(viewer, "team-a")


def test_deploy_and_rollback_refusals() -> None:
    assert rules.deploy_refusal(version()) is None
    assert rules.deploy_refusal(version(S.DRAFT, certified=False)) is None
    assert "retired" in (rules.deploy_refusal(version(S.RETIRED)) or "")
    assert "no artifact" in (rules.deploy_refusal(version(artifact_uri=None)) or "")
    assert rules.rollback_refusal(version(S.DEPRECATED)) is None
    assert "active or deprecated" in (rules.rollback_refusal(version(S.DRAFT)) or "")
    assert "active or deprecated" in (rules.rollback_refusal(version(S.RETIRED)) or "")
    assert "certificate" in (rules.rollback_refusal(version(certified=False)) or "")
    assert "no artifact" in (rules.rollback_refusal(version(artifact_sha256=None)) or "")


def test_deprecate_retire_and_sunset() -> None:
    assert rules.deprecate_refusal(version()) is None
    assert rules.deprecate_refusal(version(S.DEPRECATED)) is None
    assert rules.deprecate_refusal(version(S.DRAFT)) is not None
    assert rules.retire_refusal(version(S.DRAFT)) is None
    assert rules.retire_refusal(version(S.RETIRED)) is not None
    assert rules.sunset_refusal(NOW + timedelta(seconds=1), NOW) is None
    assert "not in the future" in (rules.sunset_refusal(NOW, NOW) or "")
    assert "time zone" in (rules.sunset_refusal(datetime(2030, 1, 1), NOW) or "")


@pytest.mark.parametrize(
    ("status", "certified", "activates"),
    [(S.DRAFT, True, True), (S.DRAFT, False, False), (S.ACTIVE, True, False)],
)
def test_activation(status: AgentStatus, certified: bool, activates: bool) -> None:
    assert rules.activates(version(status, certified=certified)) is activates


def test_serving_version_moves_only_for_active_production() -> None:
    assert rules.moves_serving_version("production", S.ACTIVE)
    assert not rules.moves_serving_version("staging", S.ACTIVE)
    assert not rules.moves_serving_version("production", S.DRAFT)
    assert not rules.moves_serving_version("production", S.DEPRECATED)


def test_a_new_version_replaces_the_newest_running_other_version() -> None:
    live = [
        deployment("d-old", "1.0.0", DeploymentStatus.READY, 0),
        deployment("d-new", "1.1.0", DeploymentStatus.DEGRADED, 1),
        deployment("d-wait", "1.3.0", DeploymentStatus.PENDING, 2),
        deployment("d-same", "1.2.0", DeploymentStatus.READY, 3),
    ]
    replaced = rules.to_replace(live, "1.2.0")
    assert replaced is not None and replaced.deployment_id == "d-new"
    assert rules.to_replace(live[2:], "1.2.0") is None
    canary = deployment("d-canary", "1.4.0", DeploymentStatus.READY, 4).model_copy(
        update={"track": "canary"}
    )
    replaced = rules.to_replace([*live, canary], "1.2.0")
    assert replaced is not None and replaced.deployment_id == "d-new"  # a canary never is


def test_policy_input() -> None:
    v = version(S.DRAFT)
    doc = rules.deploy_input(PUB, "team-a", v, "gl-a", "production", "pub", ["b", "a", "b"], NOW)
    assert doc == {
        "action": "deploy",
        "policy_types": ["deployment"],
        "user": {"id": "pub", "team": "team-a"},
        "agent": {
            "id": "gl-a",
            "version": "1.2.0",
            "status": "DRAFT",
            "certificate_id": "CERT-1",
            "certificate_expires_at": rules.ns(NOW + timedelta(days=1)),
            "owner_team": "team-a",
        },
        "deployment": {"environment": "production", "approvals": ["a", "b"], "requested_by": "pub"},
        "now": int(NOW.timestamp()) * 1_000_000_000,
    }


def test_decisions() -> None:
    finding = {"policy_id": "p", "message": "m"}
    allowed = rules.decision_of({"allow": True, "violations": [], "warnings": [finding]})
    assert allowed.allowed and allowed.status is DeploymentStatus.PROGRESSING
    assert allowed.warnings == (Violation(policy_id="p", message="m"),)
    denied = rules.decision_of({"allow": False, "violations": [finding]})
    assert not denied.allowed and denied.status is DeploymentStatus.PENDING
    assert denied.violations == (Violation(policy_id="p", message="m"),)
    empty = rules.decision_of({})  # no answer is no permission
    assert not empty.allowed and empty.violations[0].policy_id == "policy-engine"
