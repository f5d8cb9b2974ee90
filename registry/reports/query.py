"""The parameters of a compliance report, as the API takes them (`from`/`to` are UTC days, both
inclusive; at most one of agent, team, scope)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_DAYS = 3660  # ten years: a bound on the work one request can ask for


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    agent: str | None = Field(default=None, min_length=1, max_length=64)
    team: str | None = Field(default=None, min_length=1, max_length=200)
    scope: str | None = Field(default=None, min_length=1, max_length=200)
    from_: date = Field(alias="from", description="first day (UTC, YYYY-MM-DD), inclusive")
    to: date = Field(description="last day (UTC, YYYY-MM-DD), inclusive")
    format: Literal["json", "html", "policyreport"] = "json"
    chain: Literal["incremental", "full"] = Field(
        default="incremental",
        description="incremental: re-hash the audit events after the newest verified "
        "checkpoint; full: re-hash the whole trail",
    )

    @field_validator("agent", "team", "scope")
    @classmethod
    def _printable(cls, v: str | None) -> str | None:
        if v is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in v):
            raise ValueError("must not contain control characters")
        return v

    @model_validator(mode="after")
    def _check(self) -> ReportQuery:
        if sum(v is not None for v in (self.agent, self.team, self.scope)) > 1:
            raise ValueError("give at most one of agent, team and scope")
        if self.to < self.from_:
            raise ValueError("to is before from")
        if (self.to - self.from_).days + 1 > MAX_DAYS:
            raise ValueError(f"a report covers at most {MAX_DAYS} days")
        return self
