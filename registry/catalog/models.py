"""API models: the JSON shapes of the registry (the plan's RegistryEntry, AgentVersion,
SearchResult)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import semver
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


def _check_semver(v: str) -> str:
    if not semver.Version.is_valid(v):
        raise ValueError(f"{v!r} is not a semantic version (MAJOR.MINOR.PATCH)")
    return v


SemVer = Annotated[str, Field(max_length=128), AfterValidator(_check_semver)]


class AgentStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class AgentVersion(BaseModel):
    version: str
    status: AgentStatus
    spec_hash: str
    # Where the store keeps the artifact (a server path or bucket key): the registry's business,
    # never shown to callers, who download through .../versions/{version}/artifact.
    artifact_uri: str | None = Field(exclude=True)
    artifact_sha256: str | None
    artifact_size: int | None
    certificate_id: str | None = Field(
        description="Best certificate of this version (latest expiry), valid or not"
    )
    certificate_expires_at: datetime | None
    certified: bool = Field(description="An unexpired certificate exists for this version")
    created_at: datetime
    created_by: str
    updated_at: datetime
    changelog: str
    status_reason: str | None
    row_version: int = Field(description="Optimistic-concurrency counter, also sent as ETag")
    deprecated_at: datetime | None = Field(default=None, description="When it was deprecated")
    sunset_at: datetime | None = Field(
        default=None, description="A deprecated version is retired automatically after this"
    )
    replacement_agent_id: str | None = Field(
        default=None, description="The agent callers should move to (successor-version)"
    )


class VersionUsage(BaseModel):
    """Calls through sidecars, from their audit events (docs/registry.md, "Usage")."""

    calls: int = Field(description="Calls reported by sidecars")
    errors: int = Field(description="Calls answered with an HTTP status >= 500")
    denied: int = Field(description="Calls the policies denied (decision deny)")
    total_tokens: int = Field(description="Tokens reported: total, else prompt + completion")
    last_call_at: datetime | None = Field(description="Time of the latest call reported")


class UsageStats(VersionUsage):
    versions: dict[str, VersionUsage] = Field(
        description="Per version; calls reported without a version count only in the totals"
    )


class AgentSummary(BaseModel):
    agent_id: str
    name: str
    description: str
    owner_team: str
    type: str
    regulatory_scope: list[str]
    tags: list[str]
    current_version: str
    status: AgentStatus = Field(description="Status of the current version")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    deployment_count: int = Field(description="Live (not stopped) deployments of the agent")
    usage_stats: UsageStats


class RegistryEntry(AgentSummary):
    versions: list[AgentVersion]


class SearchQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=20)
    regulatory_scope: list[str] = Field(default_factory=list, max_length=20)
    owner_team: str | None = Field(default=None, max_length=64)
    status: AgentStatus | None = None
    type: str | None = Field(default=None, max_length=64)
    page: int = Field(default=1, ge=1, le=10_000)
    page_size: int = Field(default=20, ge=1, le=100)


Facets = dict[str, dict[str, int]]


class SearchResult(BaseModel):
    total: int
    page: int
    page_size: int
    agents: list[RegistryEntry]
    facets: Facets


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: AgentStatus
    reason: str = Field(default="", max_length=2000)


class CertificateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    version: SemVer
    expires_at: datetime
    issuer: str = Field(min_length=1, max_length=200)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2027-01-01T00:00:00Z")
        return v


class IssuedCertificate(BaseModel):
    """A certificate as stored."""

    certificate_id: str
    agent_id: str
    version: str
    issuer: str
    issued_at: datetime
    expires_at: datetime
    issued_by: str


class CertificateExpiry(BaseModel):
    """When the best (latest-expiring) certificate of a version that is not retired expires."""

    agent_id: str
    version: str
    expires_at: datetime


class Certificate(IssuedCertificate):
    valid: bool  # unexpired, by the database clock at read time
