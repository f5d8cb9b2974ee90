"""Lifecycle rules, without servers."""

from __future__ import annotations

import itertools

import pytest

from registry.auth.models import Role
from registry.catalog.lifecycle import (
    TransitionRefused,
    allowed_transitions,
    check_transition,
    initial_status,
)
from registry.catalog.models import AgentStatus as S

EXPECTED = {
    (S.DRAFT, S.ACTIVE),
    (S.ACTIVE, S.DEPRECATED),
    (S.DEPRECATED, S.ACTIVE),
    (S.DEPRECATED, S.RETIRED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_transition_table(current: S, target: S) -> None:
    if (current, target) in EXPECTED:
        check_transition(current, target, certified=True, role=Role.APPROVER)
    else:
        with pytest.raises(TransitionRefused) as info:
            check_transition(current, target, certified=True, role=Role.APPROVER)
        assert info.value.kind == "invalid-transition"
        assert info.value.allowed == tuple(sorted(t.value for c, t in EXPECTED if c is current))


def test_retired_is_final() -> None:
    assert allowed_transitions(S.RETIRED) == ()


def test_draft_to_active_needs_certificate() -> None:
    with pytest.raises(TransitionRefused) as info:
        check_transition(S.DRAFT, S.ACTIVE, certified=False, role=Role.ADMIN)
    assert info.value.kind == "certificate-required"
    # Re-activating a deprecated version does not re-check the certificate gate.
    check_transition(S.DEPRECATED, S.ACTIVE, certified=False, role=Role.APPROVER)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.PUBLISHER])
def test_status_changes_need_approver_or_admin(role: Role) -> None:
    with pytest.raises(TransitionRefused) as info:
        check_transition(S.DEPRECATED, S.ACTIVE, certified=True, role=role)
    assert info.value.kind == "forbidden"


def test_initial_status() -> None:
    assert initial_status(True) is S.ACTIVE
    assert initial_status(False) is S.DRAFT
