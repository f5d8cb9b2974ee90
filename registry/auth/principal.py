"""Who is calling, and the context a mutation runs in (caller plus request id for the audit)."""

from __future__ import annotations

from dataclasses import dataclass

from registry.auth.models import Role


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from a token."""

    token_id: str
    name: str
    role: Role
    team: str | None

    @property
    def actor(self) -> str:
        return f"{self.name} ({self.role.value})"


@dataclass(frozen=True)
class Context:
    principal: Principal
    request_id: str | None = None
