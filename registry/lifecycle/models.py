"""JSON shapes of deployments and lifecycle requests (API bodies and stored records).

A deployment is desired state: the registry stores it, the deployment controller
(registry/deployments/controller.py) makes it so through a Deployer and writes back what it
observed. Status meanings are in registry/store/migrations/006_lifecycle.sql and docs/lifecycle.md.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from registry.catalog.models import SemVer
from registry.catalog.spec import AGENT_ID_PATTERN

NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Desired(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"


class DeploymentStatus(StrEnum):
    PENDING = "pending"  # the deployment policies deny it for now (see violations)
    PROGRESSING = "progressing"
    READY = "ready"
    DEGRADED = "degraded"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"  # final: nothing of it runs


class Violation(BaseModel):
    policy_id: str
    message: str


class Instance(BaseModel):
    name: str
    ready: bool
    endpoint: str | None
    restarts: int = 0
    detail: str = ""


class Approval(BaseModel):
    approver: str
    comment: str
    at: datetime


class Deployment(BaseModel):
    deployment_id: str
    agent_id: str
    version: str
    environment: str
    replicas: int
    traffic_weight: int = Field(description="Percent of the environment's calls it receives")
    track: str = Field(description="stable, or canary (receives a share; never serving)")
    deployer: str
    desired: Desired
    status: DeploymentStatus
    requested_by: str
    replaces: str | None = Field(description="Deployment stopped once this one is ready")
    violations: list[Violation] = Field(description="Of the last policy decision")
    approvals: list[Approval]
    instances: list[Instance] = Field(description="The controller's last observation")
    endpoint: str | None = Field(description="Where callers reach the agent (a ready sidecar)")
    message: str
    stop_reason: str | None
    created_at: datetime
    updated_at: datetime
    ready_at: datetime | None
    stopped_at: datetime | None
    observed_at: datetime | None
    warnings: list[Violation] = Field(
        default_factory=list,
        description="Non-blocking findings of this request's policy decision (not stored)",
    )


class DeployRequest(BaseModel):
    """POST /api/v1/agents/{agent_id}/deploy (promote)."""

    model_config = ConfigDict(extra="forbid")

    version: SemVer
    environment: str = Field(default="production", pattern=NAME)
    replicas: int = Field(default=1, ge=1, le=100)
    deployer: str | None = Field(
        default=None, pattern=NAME, description="Default: the controller's deployer"
    )


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=1000)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: SemVer
    reason: str = Field(min_length=1, max_length=1000)
    environment: str = Field(default="production", pattern=NAME)


class DeprecateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sunset: datetime = Field(description="RFC 3339; after it the version is retired")
    replacement: str | None = Field(default=None, pattern=AGENT_ID_PATTERN)
    reason: str = Field(default="", max_length=1000)


class RetireRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)
    undeploy: bool = Field(default=False, description="Stop its deployments first")


class Observation(BaseModel):
    """What the controller writes back after a reconcile step."""

    status: DeploymentStatus
    instances: list[Instance]
    endpoint: str | None
    message: str
