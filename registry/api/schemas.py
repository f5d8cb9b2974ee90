"""JSON shapes that have no pydantic model in the handlers (bodies built as plain dicts, or read by
hand because they are OPA's own formats), written as models so the OpenAPI document describes
them. tests/api/test_openapi.py checks real responses against them, so they cannot drift."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from registry.catalog.spec import AgentSpec


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, or 'body'")
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; extension members (errors, current_status, ...) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Stable problem type URI", json_schema_extra={"format": "uri"})
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | None = Field(default=None, description="Request path (absent on 500)")
    errors: list[FieldError] | None = Field(default=None, description="Per-field errors")


class JsonRegistration(BaseModel):
    """The JSON form of a registration (no artifact; send multipart to upload one)."""

    model_config = ConfigDict(extra="forbid")

    spec: AgentSpec
    certificate_id: str | None = Field(default=None, max_length=200)


class Health(BaseModel):
    status: Literal["ok"]


class PolicySummary(BaseModel):
    policy_id: str
    type: str
    name: str
    enabled: bool
    revision: int
    updated_at: datetime


class PolicyChange(BaseModel):
    revision: int
    change: Literal["create", "enable", "disable"]
    enabled: bool
    actor: str
    reason: str | None
    at: datetime


class Policy(PolicySummary):
    source: str = Field(description="The policy YAML as submitted")
    created_at: datetime
    history: list[PolicyChange]


class ToggleReason(BaseModel):
    """Optional body of enable/disable; an empty body means no reason."""

    model_config = ConfigDict(extra="forbid")

    reason: str = ""


class OpaLabels(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200, description="The OPA instance id")


class OpaStatusReport(BaseModel):
    """OPA's status report format (plain or gzip JSON); only these members are checked."""

    model_config = ConfigDict(extra="allow")

    labels: OpaLabels
    bundles: dict[str, Any] | None = None


class DecisionLogEvent(BaseModel):
    """One event of OPA's decision-log format; stored once per decision_id."""

    model_config = ConfigDict(extra="allow")

    decision_id: str = Field(min_length=1, max_length=200)


class InstanceRecorded(BaseModel):
    instance_id: str


class DecisionsStored(BaseModel):
    stored: int = Field(description="Decisions appended to the audit trail by this call")


class OpaInstance(BaseModel):
    instance_id: str
    labels: dict[str, Any]
    bundles: dict[str, Any] = Field(description="Bundle name to status, as OPA reported it")
    last_seen: datetime


class PublishedBundle(BaseModel):
    name: str
    revision: str = Field(description="The revision in the bundle's .manifest, also the ETag")


class CatalogVersion(BaseModel):
    status: Literal["DRAFT", "ACTIVE", "DEPRECATED", "RETIRED"]
    certificate_id: str | None
    certificate_expires_at: int | None = Field(description="Epoch nanoseconds")
    deprecated_at: int | None = Field(default=None, description="Epoch ns; deprecated only")
    sunset_at: int | None = Field(default=None, description="Epoch ns; deprecated only")
    replacement: str | None = Field(default=None, description="Successor agent id")


class CatalogAgent(BaseModel):
    owner_team: str
    current_version: str
    versions: dict[str, CatalogVersion]


class Catalog(RootModel[dict[str, CatalogAgent]]):
    """data.greenlang.catalog.agents as bundles carry it, keyed by agent id."""
