"""The audit trail's API shapes: stored events and the filters of a page."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditEvent(BaseModel):
    seq: int
    event_id: str
    at: datetime
    actor: str
    action: str
    target: str
    agent_id: str | None
    before: Any
    after: Any
    reason: str | None
    request_id: str | None
    prev_hash: str
    hash: str


class AuditFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=256)
    decision: Literal["allow", "warn", "deny", "error", "fail_open"] | None = Field(
        default=None, description="after.decision of sidecar events and OPA decision logs"
    )
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = Field(default=0, ge=0, le=2**63 - 1)
    limit: int = Field(default=100, ge=1, le=1000)


class AuditPage(BaseModel):
    events: list[AuditEvent]
    next_after_seq: int | None
