"""Lifecycle rules of an agent version: which status changes are allowed and what each needs.

Pure functions, no I/O: the service gathers the facts (certificate, role) and asks here.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.auth.models import Role
from registry.catalog.models import AgentStatus

S = AgentStatus

ALLOWED: dict[AgentStatus, frozenset[AgentStatus]] = {
    S.DRAFT: frozenset({S.ACTIVE}),
    S.ACTIVE: frozenset({S.DEPRECATED}),
    S.DEPRECATED: frozenset({S.ACTIVE, S.RETIRED}),
    S.RETIRED: frozenset(),
}

STATUS_CHANGE_ROLES = frozenset({Role.APPROVER, Role.ADMIN})


@dataclass(frozen=True)
class TransitionRefused(Exception):
    """A refused change; `kind` separates state conflicts (409) from missing permission (403)."""

    kind: str  # "invalid-transition" | "certificate-required" | "forbidden"
    detail: str
    allowed: tuple[str, ...] = ()


def allowed_transitions(current: AgentStatus) -> tuple[str, ...]:
    return tuple(sorted(s.value for s in ALLOWED[current]))


def check_transition(
    current: AgentStatus, target: AgentStatus, *, certified: bool, role: Role
) -> None:
    """Raise TransitionRefused unless `role` may move a version from `current` to `target`."""
    allowed = allowed_transitions(current)
    if target not in ALLOWED[current]:
        raise TransitionRefused(
            "invalid-transition",
            f"cannot change status from {current.value} to {target.value}",
            allowed,
        )
    if role not in STATUS_CHANGE_ROLES:
        raise TransitionRefused("forbidden", "status changes need role approver or admin", allowed)
    if current is S.DRAFT and target is S.ACTIVE and not certified:
        raise TransitionRefused(
            "certificate-required",
            "activating a draft needs an unexpired certificate for this agent version",
            allowed,
        )


def moves_current_version(target: AgentStatus) -> bool:
    """The serving version is the one most recently made ACTIVE."""
    return target is S.ACTIVE


def initial_status(certified: bool) -> AgentStatus:
    return S.ACTIVE if certified else S.DRAFT
