"""Roles a token carries, and what the API shows of a token."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Role(StrEnum):
    VIEWER = "viewer"
    PUBLISHER = "publisher"
    APPROVER = "approver"
    ADMIN = "admin"
    SERVICE = "service"  # machines reporting telemetry: sidecars, OPAs


# Who may write telemetry (sidecar audit events, OPA status and decision logs).
TELEMETRY_WRITERS = frozenset({Role.SERVICE, Role.ADMIN})


class TokenInfo(BaseModel):
    token_id: str
    name: str
    role: Role
    team: str | None
