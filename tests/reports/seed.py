"""A seeded period with known decisions, through the real intake (POST /api/v1/audit), and the
numbers a compliance report over it must give, worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from registry.audit.chain import AuditRecord
from registry.store import audit
from tests.api.conftest import Api, make_spec
from tests.api.test_sidecar_audit import event, post

A, B = "gl-cbam-calculator", "gl-csrd-reporter"
PERIOD = {"from": "2026-11-23", "to": "2026-11-24"}
DAY1, DAY2 = "2026-11-23T08:00:00Z", "2026-11-24T23:59:59.5Z"
RBAC, RATE, PII = "rbac-access-control", "rate-limit", "pii-masking"


def _v(*policies: str) -> list[dict[str, str]]:
    return [{"policy_id": p, "message": "no"} for p in policies]


def events() -> list[dict[str, Any]]:
    a1 = {"agent_id": A, "version": "1.0.0", "time": DAY1}
    a2 = {"agent_id": A, "version": "1.1.0", "time": DAY2}
    return [
        *[event(**a1) for _ in range(5)],
        event(**a1, decision="warn", warnings=_v(PII)),
        event(**a1, decision="deny", status=403, violations=_v(RBAC), request_id="a-deny-1"),
        event(**a1, decision="deny", status=403, violations=_v(RBAC, RBAC), request_id="a-deny-2"),
        event(**a1, decision="error", status=503),
        *[event(**a2) for _ in range(3)],
        event(**a2, decision="deny", status=429, violations=_v(RATE, RBAC), request_id="a-deny-3"),
        event(**a2, decision="fail_open"),
        # Outside the period (the day before, the day after): not counted.
        event(agent_id=A, time="2026-11-22T23:59:59Z", decision="deny", violations=_v(RBAC)),
        event(agent_id=A, time="2026-11-25T00:00:00Z", decision="deny", violations=_v(RBAC)),
        *[event(agent_id=B, time=DAY2) for _ in range(4)],
        event(agent_id="gl-not-registered", time=DAY2, decision="deny", violations=_v(RBAC)),
    ]


async def seed(api: Api) -> None:
    scope_b = {"team": "csrd-team", "regulatory_scope": ["CSRD"]}
    for spec in (
        make_spec(A),
        make_spec(A, version="1.1.0"),
        make_spec(B, name="CSRD Reporter", metadata=scope_b),
    ):
        r = await api.register(spec)
        assert r.status == 201, await r.text()
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    body = {"agent_id": A, "version": "1.0.0", "expires_at": expires, "issuer": "TÜV"}
    r = await api.call("POST", "/api/v1/certificates", "approver", json=body)
    assert r.status == 201, await r.text()
    r = await post(api, events())
    assert r.status == 200 and (await r.json())["stored"] == len(events()), await r.text()
    async with api.pool.acquire() as conn, conn.transaction():
        await audit.append(conn, deprecation(datetime(2026, 11, 24, 12, tzinfo=UTC)))
        await audit.append(conn, deprecation(datetime(2026, 11, 25, 12, tzinfo=UTC)))


def deprecation(at: datetime) -> AuditRecord:
    return AuditRecord(
        actor="cli:test",
        action="version.deprecate",
        target=f"{A}@1.0.0",
        agent_id=A,
        reason="superseded by 1.1.0",
        at=at,
    )


def expected_counts() -> dict[str, dict[str, Any]]:
    """calls, allowed, warned, denied, refused, fail_open, violating per agent and in total."""
    a = dict(calls=14, allowed=8, warned=1, denied=3, refused=1, fail_open=1, violating=3)
    b = dict(calls=4, allowed=4, warned=0, denied=0, refused=0, fail_open=0, violating=0)
    total = {k: a[k] + b[k] for k in a}
    return {
        A: {**a, "violation_rate": 3 / 14, "target_met": False},
        B: {**b, "violation_rate": 0.0, "target_met": True},
        "total": {**total, "violation_rate": 3 / 18, "target_met": False},
    }


# 50 x (violation part) + 20 x decided share + 15 x certified share of versions + 15 (chain).
SCORES = {
    A: round(0 + 20 * (1 - 2 / 14) + 15 * 1 / 2 + 15, 1),  # 39.6
    B: 85.0,  # 50 + 20 + 0 + 15: (1.0.0 has no certificate)
    "total": round(0 + 20 * (1 - 2 / 18) + 15 * 1 / 3 + 15, 1),  # 37.8
}
