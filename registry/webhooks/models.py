"""JSON shapes of webhook subscriptions and deliveries (API bodies and stored records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry.catalog.spec import AGENT_ID_PATTERN

TEAM_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
ALL_EVENTS = "*"
EVENTS = frozenset(
    {
        "version.deprecated",
        "version.retired",
        "deployment.ready",
        "deployment.failed",
        "deployment.stopped",
    }
)
MAX_URL = 2000


def _check_url(url: str) -> str:
    """Only absolute http(s) URLs with a host; no credentials, which would be served back."""
    if len(url) > MAX_URL:
        raise ValueError(f"at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials; verify the signature instead")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError("must not contain whitespace or control characters")
    return url


class SubscriptionRequest(BaseModel):
    """Subscribe a URL to events of one agent or of every agent of a team (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    url: str
    agent_id: str | None = Field(default=None, pattern=AGENT_ID_PATTERN)
    team: str | None = Field(default=None, pattern=TEAM_PATTERN)
    events: list[str] = Field(default_factory=lambda: [ALL_EVENTS], min_length=1, max_length=20)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _check_url(url)

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str]) -> list[str]:
        unknown = sorted(set(events) - EVENTS - {ALL_EVENTS})
        if unknown:
            known = ", ".join(sorted(EVENTS))
            raise ValueError(f"unknown events {unknown}; known: {known}, or '*' for all")
        return sorted(set(events))

    @model_validator(mode="after")
    def _one_scope(self) -> SubscriptionRequest:
        if (self.agent_id is None) == (self.team is None):
            raise ValueError("give exactly one of agent_id and team")
        return self


class Subscription(BaseModel):
    subscription_id: str
    url: str
    agent_id: str | None
    team: str | None
    events: list[str]
    owner_team: str  # the team itself, or the owner team of the agent: who may manage it
    created_by: str
    created_at: datetime


class CreatedSubscription(Subscription):
    secret: str = Field(description="HMAC key for X-GreenLang-Signature; shown only once")


class Delivery(BaseModel):
    delivery_id: str
    subscription_id: str
    event: str
    agent_id: str | None
    team: str | None
    payload: dict[str, Any]
    occurred_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    gave_up_at: datetime | None
    created_at: datetime


class SubscriptionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = Field(default=None, pattern=AGENT_ID_PATTERN)
    team: str | None = Field(default=None, pattern=TEAM_PATTERN)
    limit: int = Field(default=100, ge=1, le=500)


class DeliveryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=500)
