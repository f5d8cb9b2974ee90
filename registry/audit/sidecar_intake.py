"""Audit events reported by sidecars: validated at the edge, stored in the hash-chained audit trail
as action `sidecar.invoke`, once per event id (docs/registry.md, "Sidecar audit intake")."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from registry.auth.principal import Principal
from registry.store import audit

ACTION = "sidecar.invoke"
MAX_EVENTS = 500
MAX_BATCH_BYTES = 8 * 1024 * 1024
EVENT_ID_PREFIX = "sidecar:"
MAX_COUNT = 2**53  # token counts: integers any JSON reader keeps exactly


def _no_control(v: str) -> str:
    # NUL cannot be stored by PostgreSQL at all; other control characters have no business in
    # ids and would make log lines and CLI tables lie.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
        raise ValueError("must not contain control characters")
    return v


def _no_nul(v: str) -> str:
    if "\x00" in v:
        raise ValueError("must not contain NUL characters")
    return v


def _utf8_bytes(limit: int) -> AfterValidator:
    """At most `limit` bytes in UTF-8 (indexed columns: a b-tree entry must stay small)."""

    def check(v: str) -> str:
        if len(v.encode("utf-8", "surrogatepass")) > limit:
            raise ValueError(f"must be at most {limit} bytes in UTF-8")
        return v

    return AfterValidator(check)


def _line(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length)


# Values the sidecar's configuration or the policies choose: plain text lines.
Id = Annotated[str, _line(200), AfterValidator(_no_control)]
AgentId = Annotated[str, _line(64), AfterValidator(_no_control)]
Name = Annotated[str, _line(200, 0), AfterValidator(_no_control)]
Version = Annotated[str, _line(128, 0), AfterValidator(_no_control)]
Environment = Annotated[str, _line(64, 0), AfterValidator(_no_control)]
# Values callers choose (a request id header, a token subject, a URL path): anything PostgreSQL
# can store, so that one odd caller does not get a whole batch refused.
RequestId = Annotated[str, _line(1024), AfterValidator(_no_nul), _utf8_bytes(1024)]
UserId = Annotated[str, _line(1024, 0), AfterValidator(_no_nul)]
UrlPath = Annotated[str, _line(16384), AfterValidator(_no_nul)]
Message = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_no_nul)]
TraceId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Method = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{1,32}$")]
Decision = Literal["allow", "warn", "deny", "error", "fail_open"]


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)$")


def _rfc3339(v: str) -> str:
    if not RFC3339.match(v):
        raise ValueError("must be an RFC 3339 time with an offset, e.g. 2026-11-24T10:00:00.1Z")
    try:
        parsed = datetime.fromisoformat(v.upper())
    except ValueError:
        raise ValueError("is not a valid date and time") from None
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    return v


class Finding(BaseModel):
    # Policies may add keys of their own to a violation; only these two are kept.
    model_config = ConfigDict(extra="ignore", strict=True)

    policy_id: Id
    message: Message


class TokenUsage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    total: int | None = Field(ge=0, le=MAX_COUNT)
    prompt: int | None = Field(ge=0, le=MAX_COUNT)
    completion: int | None = Field(ge=0, le=MAX_COUNT)
    model: Name | None


class SidecarEvent(BaseModel):
    """One proxied call, as a sidecar reports it (every key is required; nullable ones may be
    null)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: uuid.UUID = Field(description="Idempotency key (a UUID, normally v4)")
    time: Annotated[str, AfterValidator(_rfc3339)] = Field(
        description="RFC 3339 with an offset", json_schema_extra={"format": "date-time"}
    )
    sidecar: Id = Field(description="Sidecar instance id")
    request_id: RequestId
    trace_id: TraceId | None
    user_id: UserId | None
    agent_id: AgentId
    version: Version | None
    action: Literal["invoke"]
    method: Method
    path: UrlPath
    environment: Environment | None
    decision: Decision
    violations: list[Finding] = Field(max_length=200)
    warnings: list[Finding] = Field(max_length=200)
    status: int = Field(ge=100, le=599, description="HTTP status the caller got")
    latency_ms: float = Field(ge=0, le=1e9, allow_inf_nan=False)
    tokens: TokenUsage | None

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.time.upper()).astimezone(UTC)

    @property
    def stored_id(self) -> str:
        return f"{EVENT_ID_PREFIX}{self.event_id}"


class SidecarBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[SidecarEvent] = Field(min_length=1, max_length=MAX_EVENTS)


class IntakeResult(BaseModel):
    stored: int = Field(description="Events appended to the audit trail by this call")
    duplicates: int = Field(description="Events already stored (or repeated in the batch)")


def record(event: SidecarEvent, principal: Principal) -> audit.AuditRecord:
    return audit.AuditRecord(
        actor=f"sidecar:{event.sidecar}",
        action=ACTION,
        target=f"{event.agent_id}@{event.version}" if event.version else event.agent_id,
        agent_id=event.agent_id,
        after=event.model_dump(mode="json"),
        reason=f"reported with token {principal.token_id} ({principal.name})",
        request_id=event.request_id,
        event_id=event.stored_id,
        at=event.at,
    )


async def store_events(
    pool: asyncpg.Pool, batch: SidecarBatch, principal: Principal
) -> IntakeResult:
    """Append the batch's new events in one transaction; already stored ones are counted."""
    records = [record(e, principal) for e in batch.events]
    async with pool.acquire() as conn, conn.transaction():
        stored = await audit.append_new(conn, records)
    return IntakeResult(stored=stored, duplicates=len(records) - stored)
