"""The compliance score's formula (docs/reports.md, "Score") at its edges."""

from __future__ import annotations

import pytest

from registry.reports.compute import counts
from registry.reports.score import score_parts, total, violation_part


@pytest.mark.parametrize(
    "rate, points",
    [(0.0, 50.0), (0.000999, 50.0), (0.001, 50.0), (0.0055, 25.0), (0.01, 0.0), (0.5, 0.0)],
)
def test_violation_part(rate: float, points: float) -> None:
    assert violation_part(rate) == pytest.approx(points)


def test_the_target_is_strictly_under_a_tenth_of_a_percent() -> None:
    row = dict(calls=1000, allowed=999, warned=0, denied=1, refused=0, fail_open=0, violating=1)
    at = counts([row])
    assert (at.violation_rate, at.target_met) == (0.001, False)
    under = counts([{**row, "calls": 1001, "allowed": 1000}])
    assert under.target_met


def test_parts_add_up() -> None:
    row = dict(calls=14, allowed=8, warned=1, denied=3, refused=1, fail_open=1, violating=3)
    parts = score_parts(counts([row]), certified=1, versions=2, chain_ok=True)
    assert (parts.violations, parts.decisions, parts.certificates, parts.audit_chain) == (
        0.0,
        17.14,
        7.5,
        15.0,
    )
    assert total(parts) == 39.6
    idle = score_parts(counts([]), certified=0, versions=0, chain_ok=False)
    assert total(idle) == 85.0
