"""Compliance reports over a seeded period (tests/reports/seed.py) through the real API and
PostgreSQL: exact numbers in JSON, PolicyReport and HTML (rendered by headless Chromium), a
tampered audit row failing the chain, and bad input refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.reports.seed import PERIOD, PII, RATE, RBAC, SCORES, A, B, expected_counts, seed

URL = "/api/v1/reports/compliance"
COUNT_KEYS = ("calls", "allowed", "warned", "denied", "refused", "fail_open", "violating")


async def report(api: Api, fmt: str = "json", who: str = "viewer", **params: str) -> Any:
    r = await api.call("GET", URL, who, params={**PERIOD, "format": fmt, **params})
    assert r.status == 200, await r.text()
    return await r.text() if fmt == "html" else await r.json()


def counts_of(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in (*COUNT_KEYS, "violation_rate", "target_met")}


async def test_json_report_of_a_seeded_period(api: Api) -> None:
    await seed(api)
    doc = await report(api)
    want = expected_counts()
    agents = {a["agent_id"]: a for a in doc["agents"]}
    assert list(agents) == [A, B]  # registered agents only
    assert counts_of(agents[A]["counts"]) == want[A]
    assert counts_of(agents[B]["counts"]) == want[B]
    assert counts_of(doc["totals"]) == want["total"]
    assert (agents[A]["score"], agents[B]["score"], doc["score"]) == (
        SCORES[A],
        SCORES[B],
        SCORES["total"],
    )
    versions = {v["version"]: v for v in agents[A]["versions"]}
    assert {v: x["counts"]["calls"] for v, x in versions.items()} == {"1.0.0": 9, "1.1.0": 5}
    assert versions["1.0.0"]["certificate"]["state"] == "valid"
    assert versions["1.0.0"]["certificate"]["expires_at"] is not None
    assert versions["1.1.0"]["certificate"] == {
        "state": "none",
        "certificate_id": None,
        "expires_at": None,
    }
    policies = [(p["policy_id"], p["violations"], p["warnings"]) for p in agents[A]["policies"]]
    assert policies == [(RBAC, 3, 0), (RATE, 1, 0), (PII, 0, 1)]
    assert agents[A]["policies"][0]["examples"] == ["a-deny-1", "a-deny-2", "a-deny-3"]
    assert agents[A]["policies"][0]["violation_rate"] == 3 / 14
    assert [(e["kind"], e["action"]) for e in agents[A]["lifecycle"]] == [
        ("deprecation", "version.deprecate")  # the one of 2026-11-25 is outside
    ]
    assert {t["name"]: t["counts"]["calls"] for t in doc["teams"]} == {
        "cbam-team": 14,
        "csrd-team": 4,
    }
    assert {s["name"]: s["counts"]["violating"] for s in doc["scopes"]} == {"CBAM": 3, "CSRD": 0}
    assert [(d["day"], d["calls"], d["violating"]) for d in doc["daily"]] == [
        ("2026-11-23", 9, 2),
        ("2026-11-24", 9, 1),
    ]
    chain = doc["audit_chain"]
    assert chain["ok"] is True and chain["broken_at_seq"] is None
    assert chain["rehashed"] == await api.pool.fetchval("SELECT count(*) FROM audit_events")


async def test_filters_select_agents(api: Api) -> None:
    await seed(api)
    by_team = await report(api, team="csrd-team")
    assert [a["agent_id"] for a in by_team["agents"]] == [B]
    by_scope = await report(api, scope="CBAM")
    assert counts_of(by_scope["totals"]) == expected_counts()[A]
    one = await report(api, agent=A, **{"from": "2026-11-24", "to": "2026-11-24"})
    assert one["totals"]["calls"] == 5 and one["totals"]["violating"] == 1
    # A one-year report includes the two events outside the seeded period.
    year = await report(api, agent=A, **{"from": "2026-01-01", "to": "2026-12-31"})
    assert (year["totals"]["calls"], year["totals"]["denied"]) == (16, 5)


async def test_policyreport_has_one_result_per_policy_and_agent(api: Api) -> None:
    await seed(api)
    doc = await report(api, "policyreport")
    assert doc["apiVersion"] == "wgpolicyk8s.io/v1alpha2" and doc["kind"] == "PolicyReport"
    results = {(r["resources"][0]["name"], r["policy"]): r for r in doc["results"]}
    assert len(doc["results"]) == len(results) == 6
    verdicts = {k: r["result"] for k, r in results.items()}
    assert verdicts == {
        (A, RBAC): "fail",
        (A, RATE): "fail",
        (A, PII): "warn",
        (B, RBAC): "pass",
        (B, RATE): "pass",
        (B, PII): "pass",
    }
    assert doc["summary"] == {"pass": 3, "fail": 2, "warn": 1, "error": 0, "skip": 0}
    rbac = results[(A, RBAC)]["properties"]
    assert rbac == {
        "calls": "14",
        "violations": "3",
        "warnings": "0",
        "violation_rate": "0.214286",
        "examples": "a-deny-1,a-deny-2,a-deny-3",
    }
    assert doc["metadata"]["annotations"]["greenlang.io/audit-chain"] == "verified"
    assert doc["metadata"]["annotations"]["greenlang.io/compliance-score"] == f"{SCORES['total']}"


async def test_a_tampered_audit_row_fails_the_chain(api: Api) -> None:
    await seed(api)
    seq = await api.pool.fetchval("SELECT seq FROM audit_events WHERE request_id = 'a-deny-2'")
    await api.pool.execute(
        "UPDATE audit_events SET after = jsonb_set(after, '{decision}', '\"allow\"')"
        " WHERE seq = $1",
        seq,
    )
    doc = await report(api)
    chain = doc["audit_chain"]
    assert (chain["ok"], chain["broken_at_seq"]) == (False, seq)
    assert chain["problem"] == "content does not match hash"
    agent = next(a for a in doc["agents"] if a["agent_id"] == B)
    assert agent["score_parts"]["audit_chain"] == 0 and agent["score"] == SCORES[B] - 15
    pr = await report(api, "policyreport")
    assert pr["metadata"]["annotations"]["greenlang.io/audit-chain"] == "broken"
    assert 'data-k="chain:ok">BROKEN<' in await report(api, "html")


async def test_checkpoints_rehash_only_new_events_and_catch_rechaining(api: Api) -> None:
    await seed(api)
    first = (await report(api))["audit_chain"]
    second = (await report(api))["audit_chain"]
    assert second["ok"] and second["rehashed"] == 0
    assert second["checkpoint_seq"] == first["head_seq"] == second["head_seq"]
    full = (await report(api, chain="full"))["audit_chain"]
    assert full["ok"] and full["rehashed"] == first["rehashed"]
    # Rewriting a verified event's hash (as re-chaining after an edit must) shows.
    await api.pool.execute(
        "UPDATE audit_events SET hash = repeat('0', 64) WHERE seq = $1", first["head_seq"]
    )
    broken = (await report(api))["audit_chain"]
    assert (broken["ok"], broken["broken_at_seq"]) == (False, first["head_seq"])


async def test_a_naive_edit_before_the_checkpoint_needs_a_full_verification(api: Api) -> None:
    await seed(api)
    assert (await report(api))["audit_chain"]["ok"]
    seq = await api.pool.fetchval("SELECT seq FROM audit_events WHERE request_id = 'a-deny-1'")
    await api.pool.execute("UPDATE audit_events SET reason = 'edited' WHERE seq = $1", seq)
    assert (await report(api))["audit_chain"]["ok"]  # documented: behind the checkpoint
    full = (await report(api, chain="full"))["audit_chain"]
    assert (full["ok"], full["broken_at_seq"]) == (False, seq)


@pytest.mark.parametrize(
    "params, status",
    [
        ({"from": "2026-11-24", "to": "2026-11-23"}, 422),
        ({"from": "2026-13-01", "to": "2026-12-31"}, 422),
        ({"from": "yesterday", "to": "2026-12-31"}, 422),
        ({"from": None}, 422),  # missing
        ({"from": ""}, 422),
        ({"agent": A, "team": "cbam-team"}, 422),
        ({"format": "pdf"}, 422),
        ({"chain": "none"}, 422),
        ({"from": "2000-01-01", "to": "2026-12-31"}, 422),
        ({"colour": "red"}, 422),
        ({"agent": "gl-nobody"}, 404),
        ({"agent": "x" * 65}, 422),
        ({"scope": "CBAM\x00"}, 422),
        ({"team": "a\nb"}, 422),
    ],
)
async def test_bad_input_is_a_problem(api: Api, params: dict[str, str | None], status: int) -> None:
    query = {k: v for k, v in {**PERIOD, **params}.items() if v is not None}
    r = await api.call("GET", URL, "viewer", params=query)
    assert r.status == status, await r.text()
    if status != 200:
        assert r.content_type == "application/problem+json"


async def test_repeated_parameters_are_refused(api: Api) -> None:
    r = await api.call("GET", f"{URL}?from=2026-01-01&to=2026-01-02&to=2026-01-03", "viewer")
    assert r.status == 400 and r.content_type == "application/problem+json"


async def test_a_token_is_needed(api: Api) -> None:
    r = await api.client.get(URL, params=PERIOD)
    assert r.status == 401
