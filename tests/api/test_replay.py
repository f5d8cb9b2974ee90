"""Policy what-if replay against a real registry and PostgreSQL: decision inputs kept beside
the chain at intake, replayed under a draft (API and `greenlang-governance policy replay`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from registry.replay.inputs import input_digest
from tests.api.conftest import Api
from tests.api.test_governance_cli import gov, registry_env
from tests.api.test_sidecar_audit import event, post

AGENT = "gl-cbam-calculator"
JSON_TYPE = {"Content-Type": "application/json"}
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

TIGHT_RATE = {
    "policy_id": "tight-rate",
    "type": "rate_limiting",
    "name": "Tighter rate",
    "description": "At most five calls per window.",
    "rules": [
        {
            "condition": {"field": "rate.current", "operator": "not_null"},
            "requirement": {"field": "rate.current", "operator": "lt", "value": 5},
            "message": "rate above the draft limit",
        }
    ],
    "enforcement": "deny",
    "enabled": True,
}

WRITE_WARN = {
    "policy_id": "writes-classified",
    "type": "data_access",
    "name": "Unclassified writes",
    "description": "Warns on writes without a data classification.",
    "rules": [
        {
            "condition": {"field": "request.method", "operator": "in", "value": ["POST", "PUT"]},
            "requirement": {"field": "request.data_classification", "operator": "not_null"},
            "message": "write without a data classification",
        }
    ],
    "enforcement": "warn",
    "enabled": True,
}


def pre_input(i: int, at: datetime, roles: list[str]) -> dict[str, Any]:
    """A pre-execution input as sidecar/call.py builds it, with rate.current = i."""
    return {
        "action": "invoke",
        "phase": "pre",
        "policy_types": ["access_control", "rate_limiting", "compliance", "data_access"],
        "user": {"id": f"user-{i}", "roles": roles},
        "agent": {"id": AGENT, "version": "1.0.0"},
        "request": {"method": "POST", "path": "/v1/calculate"},
        "now": int(at.timestamp()) * 1_000_000_000,
        "rate": {"current": i, "window_s": 60},
    }


def recorded(i: int, roles: list[str] | None = None, **over: Any) -> dict[str, Any]:
    at = NOW + timedelta(seconds=i)
    doc = {
        "request_id": f"req-{i}",
        "time": at.isoformat(),
        "environment": None,
        "input": {"pre": pre_input(i, at, roles or ["operator"]), "post": None},
    }
    return event(**{**doc, **over})


async def seed(api: Api, events: list[dict[str, Any]]) -> None:
    r = await post(api, events)
    assert r.status == 200, await r.text()


async def replay(api: Api, policy: dict[str, Any] | str, who: str = "approver", **kw: Any) -> Any:
    text = policy if isinstance(policy, str) else yaml.safe_dump(policy)
    return await api.call("POST", "/api/v1/policies/replay", who, json={"policy": text, **kw})


async def test_inputs_are_kept_beside_the_chain_with_their_hash(api: Api) -> None:
    sent = recorded(0)
    await seed(api, [sent, recorded(1, input=None), recorded(2, tokens=None)])
    chained = await api.pool.fetchrow(
        "SELECT after FROM audit_events WHERE event_id = $1", f"sidecar:{sent['event_id']}"
    )
    after = json.loads(chained["after"])
    assert "input" not in after and after["input_sha256"] == input_digest(sent["input"])
    rows = await api.pool.fetch("SELECT event_id, agent_id, at, input FROM decision_inputs")
    assert len(rows) == 2  # the event without an input stores none
    kept = next(r for r in rows if r["event_id"] == f"sidecar:{sent['event_id']}")
    assert json.loads(kept["input"]) == sent["input"] and kept["agent_id"] == AGENT


async def test_tightened_rate_limit_reports_exactly_the_calls_it_would_deny(api: Api) -> None:
    await seed(api, [recorded(i) for i in range(10)] + [recorded(10, ["admin"])])
    r = await replay(api, TIGHT_RATE, **{"from": (NOW - timedelta(minutes=1)).isoformat()})
    assert r.status == 200, await r.text()
    report = await r.json()
    assert report["policy_id"] == "tight-rate" and report["replaces"] is False
    assert report["replayed"] == 11 and report["unchanged"] == 5
    assert report["newly_denied"] == 6 and report["tampered"] == []
    [change] = report["changes"]
    assert change["from"] == "allow" and change["to"] == "deny" and change["count"] == 6
    assert change["examples"] == ["req-5", "req-6", "req-7", "req-8", "req-9"]
    assert report["by_role"] == {"admin": {"allow->deny": 1}, "operator": {"allow->deny": 5}}
    assert report["by_agent"] == {AGENT: {"allow->deny": 6}}
    assert report["differs_from_recorded"] == 0

    # --agent and a period filter what is replayed
    r = await replay(api, TIGHT_RATE, agent_id="gl-other")
    assert (await r.json())["replayed"] == 0
    later = (NOW + timedelta(seconds=7)).isoformat()
    r = await replay(api, TIGHT_RATE, **{"from": later})
    assert (await r.json())["newly_denied"] == 4  # req-7..req-10


async def test_draft_identical_to_the_enabled_policy_changes_nothing(api: Api) -> None:
    created = await api.call(
        "POST",
        "/api/v1/policies",
        "approver",
        data=yaml.safe_dump(WRITE_WARN),
        headers={"Content-Type": "application/yaml"},
    )
    assert created.status == 201, await created.text()
    await seed(api, [recorded(i, decision="warn") for i in range(4)])
    report = await (await replay(api, WRITE_WARN)).json()
    assert report["replaces"] is True and report["replayed"] == 4
    assert report["unchanged"] == 4 and report["changes"] == [] and report["newly_denied"] == 0
    # the same policy as deny would deny all four (warn -> deny)
    report = await (await replay(api, {**WRITE_WARN, "enforcement": "deny"})).json()
    assert [(c["from"], c["to"], c["count"]) for c in report["changes"]] == [("warn", "deny", 4)]


async def test_a_tampered_input_is_detected_and_not_replayed(api: Api) -> None:
    sent = [recorded(i) for i in range(6)]
    await seed(api, sent)
    target = f"sidecar:{sent[5]['event_id']}"
    await api.pool.execute(
        "UPDATE decision_inputs SET input = jsonb_set(input, '{pre,rate,current}', '0')"
        " WHERE event_id = $1",
        target,
    )
    report = await (await replay(api, TIGHT_RATE)).json()
    assert report["tampered"] == [target]
    assert report["replayed"] == 5 and report["newly_denied"] == 0


async def test_bad_requests_are_problems_and_change_nothing(api: Api) -> None:
    await seed(api, [recorded(0)])
    before = await api.counts()
    policies = await api.pool.fetchval("SELECT count(*) FROM policies")
    cases: list[tuple[str, Any, int]] = [
        ("approver", {"policy": "policy_id: [", "from": None}, 422),
        ("approver", {"policy": yaml.safe_dump({**TIGHT_RATE, "type": "nonsense"})}, 422),
        ("approver", {"policy": yaml.safe_dump(TIGHT_RATE), "from": "yesterday"}, 422),
        (
            "approver",
            {"policy": yaml.safe_dump(TIGHT_RATE), "from": "2026-02-02", "to": "2026-02-01"},
            422,
        ),
        ("approver", {"policy": yaml.safe_dump({**TIGHT_RATE, "policy_id": "rate-limit"})}, 422),
        ("approver", {"policy": ""}, 422),
        ("approver", {"policy": "x", "extra": 1}, 422),
        ("approver", [], 422),
        ("viewer", {"policy": yaml.safe_dump(TIGHT_RATE)}, 403),
        ("publisher", {"policy": yaml.safe_dump(TIGHT_RATE)}, 403),
    ]
    for who, body, status in cases:
        r = await api.call("POST", "/api/v1/policies/replay", who, json=body)
        assert r.status == status, (body, await r.text())
        assert r.content_type == "application/problem+json"
    r = await api.call(
        "POST",
        "/api/v1/policies/replay",
        "approver",
        data="policy: x",
        headers={"Content-Type": "text/plain"},
    )
    assert r.status == 415 and r.content_type == "application/problem+json"
    deep = b'{"policy": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = await api.call("POST", "/api/v1/policies/replay", "approver", data=deep, headers=JSON_TYPE)
    assert r.status == 422 and r.content_type == "application/problem+json"

    async def chunks() -> Any:
        for _ in range(80):
            yield b" " * 8192

    r = await api.call(
        "POST", "/api/v1/policies/replay", "approver", data=chunks(), headers=JSON_TYPE
    )
    assert r.status == 413 and r.content_type == "application/problem+json"
    assert await api.counts() == before
    assert await api.pool.fetchval("SELECT count(*) FROM policies") == policies


async def test_cli_replay_exit_codes_and_dry_run(api: Api, tmp_path: Path) -> None:
    await seed(api, [recorded(i) for i in range(8)])
    env = registry_env(api, "approver")
    tight = tmp_path / "tight.yaml"
    tight.write_text(yaml.safe_dump(TIGHT_RATE))
    code, out, err = await gov("policy", "replay", str(tight), "--format", "json", env=env)
    assert code == 4, err
    assert json.loads(out)["newly_denied"] == 3
    code, out, err = await gov("policy", "replay", str(tight), "--agent", "gl-other", env=env)
    assert code == 0 and "replayed 0" in out, err
    code, out, err = await gov("policy", "create", str(tight), "--dry-run", env=env)
    assert code == 4 and "allow -> deny: 3" in out and "req-5" in out, err
    assert await api.pool.fetchval("SELECT count(*) FROM policies") == 0  # nothing created

    loose = tmp_path / "loose.yaml"
    loose.write_text(
        yaml.safe_dump(
            {
                **TIGHT_RATE,
                "enabled": False,
                "rules": [
                    {
                        **TIGHT_RATE["rules"][0],
                        "requirement": {"field": "rate.current", "operator": "lt", "value": 100},
                    }
                ],
            }
        )
    )
    code, out, err = await gov("policy", "create", str(loose), env=env)
    assert code == 0, err
    code, out, err = await gov("policy", "enable", "tight-rate", "--dry-run", env=env)
    assert code == 0 and "newly denied 0" in out, err
    row = await api.pool.fetchrow(
        "SELECT enabled, revision FROM policies WHERE policy_id = 'tight-rate'"
    )
    assert row["enabled"] is False and row["revision"] == 1  # not enabled

    # disabling a stored deny policy: the calls it denies today would be allowed
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump({**WRITE_WARN, "enforcement": "deny"}))
    assert (await gov("policy", "create", str(strict), env=env))[0] == 0
    code, out, err = await gov(
        "policy", "disable", "writes-classified", "--dry-run", "--format", "json", env=env
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["enabled"] is False and report["replaces"] is True
    assert [(c["from"], c["to"], c["count"]) for c in report["changes"]] == [("deny", "allow", 8)]
    code, out, err = await gov("policy", "disable", "writes-classified", "--dry-run", env=env)
    assert code == 0 and "disabled" in out and "deny -> allow: 8" in out, err
    enabled = await api.pool.fetchval(
        "SELECT enabled FROM policies WHERE policy_id = 'writes-classified'"
    )
    assert enabled is True  # a dry run changes nothing

    bad = tmp_path / "bad.yaml"
    bad.write_text("policy_id: [")
    code, _, err = await gov("policy", "replay", str(bad), env=env)
    assert code == 2 and err.startswith("error: 422") and err.count("\n") == 1
    code, _, err = await gov("policy", "replay", str(tmp_path / "missing.yaml"), env=env)
    assert code == 2 and "cannot read policy" in err
    code, _, err = await gov("policy", "replay", str(tight), "--from", "x", env=env)
    assert code == 2 and "422" in err


async def test_odd_inputs_are_stored_as_jsonb_keeps_them_or_dropped(api: Api) -> None:
    odd = recorded(0)
    odd["input"]["pre"]["request"]["path"] = "/v1/a\x00b"
    odd["input"]["pre"]["x"] = [1e20, 0.5, 1e-7, "é"]
    huge = recorded(1)
    huge["input"]["pre"]["request"]["path"] = "/" + "p" * 17000
    deep: dict[str, object] = {}
    for _ in range(40):
        deep = {"d": deep}
    nested = recorded(2)
    nested["input"]["pre"]["x"] = deep
    await seed(api, [odd, huge, nested])
    rows = await api.pool.fetch(
        "SELECT e.event_id, e.after->>'input_sha256' AS sha, d.input::text AS input"
        " FROM audit_events e LEFT JOIN decision_inputs d USING (event_id)"
        " WHERE e.action = 'sidecar.invoke' ORDER BY e.seq"
    )
    kept, dropped, too_deep = rows
    value = json.loads(kept["input"])
    assert value["pre"]["request"]["path"] == "/v1/a\ufffdb"
    assert kept["sha"] == input_digest(value)  # what jsonb gives back still matches the chain
    assert dropped["sha"] is None and dropped["input"] is None
    assert too_deep["sha"] is None and too_deep["input"] is None
    report = await (await replay(api, TIGHT_RATE)).json()
    assert report["tampered"] == [] and report["replayed"] == 1
