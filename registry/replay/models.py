"""The replay request (API body, CLI arguments) and how its period is read."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kernel.audit_event import AgentId

MAX_POLICY_CHARS = 256 * 1024
DEFAULT_DAYS = 7
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    policy: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_POLICY_CHARS),
        Field(description="The draft policy YAML (added, or replacing the one with its policy_id)"),
    ]
    from_: Annotated[
        str | None,
        Field(
            alias="from",
            description="Start: a date (UTC midnight) or an RFC 3339 time; default 7 days ago",
        ),
    ] = None
    to: Annotated[
        str | None,
        Field(description="End: a date (the whole day included) or an RFC 3339 time; default now"),
    ] = None
    agent_id: Annotated[AgentId | None, Field(description="Only this agent's calls")] = None
    enabled: Annotated[
        bool,
        Field(
            description="Replay the policy with this switch: false shows what disabling it"
            " changes (`policy disable --dry-run`)"
        ),
    ] = True


def parse_bound(value: str, *, end: bool) -> datetime:
    """A date or an RFC 3339 time as an aware UTC datetime; a date as an end bound means the
    whole day (its next midnight). ValueError when it is neither."""
    if _DATE.match(value):
        day = date.fromisoformat(value)
        at = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return at + timedelta(days=1) if end else at
    try:
        at = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 time") from None
    if at.tzinfo is None:
        raise ValueError(f"{value!r} needs an offset (e.g. Z)")
    return at.astimezone(UTC)


def period(request: ReplayRequest, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) of the request; ValueError when a bound is unreadable or they cross."""
    until = parse_bound(request.to, end=True) if request.to else now
    since = (
        parse_bound(request.from_, end=False)
        if request.from_
        else until - timedelta(days=DEFAULT_DAYS)
    )
    if since >= until:
        raise ValueError("the period is empty: `from` must be before `to`")
    return since, until
