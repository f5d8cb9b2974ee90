"""Sidecar audit intake (POST /api/v1/audit): storage in the hash chain, idempotency under races,
refusal of bad input, authorisation, queries, and what the bundle does (not) rebuild for."""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bundles.bundle import read_bundle_files
from bundles.engines.embedded import EmbeddedEngine
from registry.api.bundles import BUNDLES
from registry.audit.chain import verify_chain
from registry.audit.models import AuditFilter
from registry.auth.models import Role
from registry.auth.tokens import create_token, revoke_token
from registry.control_plane.opa_reports import gzip_json
from registry.store.audit import STATE_SQL, audit_query
from tests.api.conftest import Api, make_spec
from tests.api.test_auth import MUTATIONS
from tests.api.test_cli import cli
from tests.api.test_opa_control import decision

COUNT_SIDECAR = "SELECT count(*) FROM audit_events WHERE action = 'sidecar.invoke'"


def event(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "time": "2026-11-24T10:00:00.123456+01:00",
        "sidecar": "sc-1",
        "request_id": f"req-{uuid.uuid4().hex[:8]}",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "user_id": "carla",
        "agent_id": "gl-cbam-calculator",
        "version": "1.0.0",
        "action": "invoke",
        "method": "POST",
        "path": "/v1/calculate",
        "environment": "production",
        "decision": "allow",
        "violations": [],
        "warnings": [],
        "status": 200,
        "latency_ms": 12.5,
        "tokens": {"total": 120, "prompt": 100, "completion": 20, "model": "gpt-x"},
    }
    doc.update(over)
    return doc


async def post(api: Api, events: list[dict[str, Any]], who: str = "service") -> Any:
    return await api.call("POST", "/api/v1/audit", who, json={"events": events})


async def test_events_are_stored_in_the_chain(api: Api) -> None:
    deny = event(
        decision="deny",
        status=403,
        violations=[{"policy_id": "rbac-access-control", "message": "not allowed"}],
        tokens=None,
        version=None,
        user_id=None,
        trace_id=None,
    )
    # what the agent's failure was (the key is absent from older sidecars' events)
    failed = event(status=502, error="upstream_reset", tokens=None)
    sent = [event(), deny, failed, event(error=None)]
    r = await post(api, sent)
    assert r.status == 200, await r.text()
    assert await r.json() == {"stored": 4, "duplicates": 0}
    rows = await api.pool.fetch(
        "SELECT * FROM audit_events WHERE action = 'sidecar.invoke' ORDER BY seq"
    )
    assert [r["event_id"] for r in rows] == [f"sidecar:{e['event_id']}" for e in sent]
    first, second, third, fourth = rows
    assert json.loads(third["after"]) == failed and json.loads(fourth["after"])["error"] is None
    assert first["actor"] == "sidecar:sc-1" and first["agent_id"] == "gl-cbam-calculator"
    assert first["request_id"] == sent[0]["request_id"]
    assert (
        first["target"] == "gl-cbam-calculator@1.0.0" and second["target"] == "gl-cbam-calculator"
    )
    assert first["at"] == datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC)
    assert json.loads(first["after"]) == sent[0] and json.loads(second["after"]) == deny
    assert "service" in first["reason"]
    assert (await verify_chain(api.service.store.audit)).ok


async def test_caller_chosen_values_are_stored_as_they_came(api: Api) -> None:
    """Request ids, user ids and paths come from callers: odd ones are kept, not refused (only
    NUL, which PostgreSQL cannot store, is refused)."""
    odd = event(
        request_id="id\twith tab " + "\u00e9" * 400,
        user_id="CN=Carla,O=\u00c9cole\n",
        path="/v1/\u00fcber?q=" + "x" * 9000,
        violations=[{"policy_id": "custom", "message": "", "details": {"k": 1}}],
    )
    r = await post(api, [odd])
    assert r.status == 200, await r.text()
    after = json.loads(
        await api.pool.fetchval(
            "SELECT after FROM audit_events WHERE action = $1", "sidecar.invoke"
        )
    )
    assert after["request_id"] == odd["request_id"] and after["path"] == odd["path"]
    assert after["violations"] == [{"policy_id": "custom", "message": ""}]
    assert (await verify_chain(api.service.store.audit)).ok


async def test_floats_of_every_notation_verify_after_storage(api: Api) -> None:
    """The append path writes canonical bytes with orjson where they equal the reference
    encoder's and falls back elsewhere (floats Python writes with an exponent): whatever jsonb
    gives back must still verify."""
    latencies = [0, 0.0, 1e-05, 2.5e-07, 0.0001, 12.5, 3, 999999999.999, 1e9]
    sent = [event(latency_ms=x) for x in latencies]
    r = await post(api, sent)
    assert r.status == 200, await r.text()
    stored = await api.pool.fetch(
        "SELECT after FROM audit_events WHERE action = 'sidecar.invoke' ORDER BY seq"
    )
    assert [json.loads(row["after"])["latency_ms"] for row in stored] == latencies
    assert (await verify_chain(api.service.store.audit)).ok


async def test_duplicates_are_counted_not_stored(api: Api) -> None:
    a, b, c = event(), event(), event()
    assert await (await post(api, [a, b])).json() == {"stored": 2, "duplicates": 0}
    # A retried batch, a mixed one, and an id repeated inside one batch.
    assert await (await post(api, [a, b])).json() == {"stored": 0, "duplicates": 2}
    assert await (await post(api, [b, c, c])).json() == {"stored": 1, "duplicates": 2}
    # The same id in another spelling (upper case) is the same event.
    upper = {**a, "event_id": a["event_id"].upper()}
    assert await (await post(api, [upper])).json() == {"stored": 0, "duplicates": 1}
    assert await api.pool.fetchval(COUNT_SIDECAR) == 3
    assert (await verify_chain(api.service.store.audit)).ok


async def test_racing_batches_store_each_event_once(api: Api) -> None:
    events = [event() for _ in range(60)]
    # Ten batches of 30 events with overlapping windows; every event is in several batches.
    batches = [events[i * 3 : i * 3 + 30] for i in range(10)]
    responses = await asyncio.gather(*(post(api, b) for b in batches))
    assert [r.status for r in responses] == [200] * 10
    bodies = [await r.json() for r in responses]
    assert sum(b["stored"] for b in bodies) == len({e["event_id"] for b in batches for e in b})
    assert all(b["stored"] + b["duplicates"] == 30 for b in bodies)
    per_id = await api.pool.fetch(
        "SELECT event_id, count(*) AS n FROM audit_events WHERE action = 'sidecar.invoke'"
        " GROUP BY event_id"
    )
    assert len(per_id) == 57 and {r["n"] for r in per_id} == {1}
    assert (await verify_chain(api.service.store.audit)).ok


async def test_racing_decision_log_batches_store_each_decision_once(api: Api) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    async def send(i: int) -> int:
        body = gzip_json([decision(j) for j in range(i, i + 10)])
        r = await api.call("POST", "/api/v1/opa/logs", "service", data=body, headers=headers)
        assert r.status == 200, await r.text()
        return int((await r.json())["stored"])

    stored = await asyncio.gather(*(send(i) for i in range(10)))
    assert sum(stored) == 19
    rows = (
        "SELECT count(DISTINCT event_id), count(*) FROM audit_events WHERE action = 'opa.decision'"
    )
    assert tuple(await api.pool.fetchrow(rows)) == (19, 19)
    assert (await verify_chain(api.service.store.audit)).ok


def _raw(api: Api, body: bytes, content_type: str = "application/json") -> Any:
    return api.call(
        "POST", "/api/v1/audit", "service", data=body, headers={"Content-Type": content_type}
    )


BAD_EVENTS = [
    {"event_id": "not-a-uuid"},
    {"time": "2026-11-24T10:00:00"},  # no offset
    {"time": "yesterday"},
    {"time": "0001-01-01T00:00:00+05:00"},  # before year 1 in UTC
    {"time": 1764000000},
    {"status": "200"},
    {"status": 99},
    {"status": True},
    {"latency_ms": -1},
    {"latency_ms": "fast"},
    {"decision": "maybe"},
    {"action": "deploy"},
    {"trace_id": "xyz"},
    {"method": "PO ST"},
    {"agent_id": ""},
    {"agent_id": "a" * 65},
    {"sidecar": "sc\n1"},
    {"request_id": "r" * 1025},
    {"request_id": "\u00e9" * 600},  # 1200 bytes in UTF-8
    {"request_id": "a\x00b"},
    {"path": "/v1/\x00"},
    {"violations": [{"policy_id": "p"}]},
    {"violations": [{"policy_id": "p", "message": "bad \x00 byte"}]},
    {"violations": "none"},
    {"tokens": {"total": -5, "prompt": None, "completion": None, "model": None}},
    {"tokens": {"total": 1.5, "prompt": None, "completion": None, "model": None}},
    {"tokens": {"total": 2**60, "prompt": None, "completion": None, "model": None}},
    {"unexpected": "field"},
    {"error": "Upstream Reset!"},
    {"error": 502},
]


@pytest.mark.parametrize("over", BAD_EVENTS, ids=lambda o: next(iter(o)))
async def test_an_invalid_event_refuses_the_whole_batch(api: Api, over: dict[str, Any]) -> None:
    r = await post(api, [event(), event(**over)])
    assert r.status == 400, await r.text()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = await r.json()
    assert body["errors"] and all(e["field"].startswith("events.1") for e in body["errors"])
    assert await api.pool.fetchval(COUNT_SIDECAR) == 0


async def test_missing_key_is_refused(api: Api) -> None:
    incomplete = event()
    del incomplete["tokens"]
    r = await post(api, [incomplete])
    assert r.status == 400
    assert (await r.json())["errors"][0]["field"] == "events.0.tokens"


async def test_bad_bodies_are_problems_never_500(api: Api) -> None:
    cases = [
        (b"{nope", 400),
        (b"", 400),
        (b"[]", 400),
        (b"{}", 400),
        (b'{"events": []}', 400),
        (b'{"events": {}}', 400),
        (b'{"events": [1]}', 400),
        (b'{"events": [], "more": 1}', 400),
        (b'{"events": ["\\ud800"]}', 400),  # lone surrogate
        (b"\xff\xfe", 400),
        (b"[" * 100_000, 400),
        (json.dumps({"events": [event(latency_ms=1.0)]}).replace("1.0", "NaN").encode(), 400),
    ]
    for body, status in cases:
        r = await _raw(api, body)
        assert r.status == status, (body[:40], await r.text())
        assert r.headers["Content-Type"].startswith("application/problem+json")
    r = await _raw(api, json.dumps({"events": [event()]}).encode(), "text/plain")
    assert r.status == 415
    assert await api.pool.fetchval(COUNT_SIDECAR) == 0


async def test_too_many_events_or_bytes_is_413(api: Api) -> None:
    r = await post(api, [event() for _ in range(501)])
    assert r.status == 413, await r.text()
    assert "500" in (await r.json())["detail"]
    r = await post(api, [event() for _ in range(500)])
    assert r.status == 200 and (await r.json())["stored"] == 500
    huge = event(violations=[{"policy_id": "p", "message": "m" * 4000}] * 200)
    r = await post(api, [huge] * 12)  # about 10 MB
    assert r.status == 413
    assert await api.pool.fetchval(COUNT_SIDECAR) == 500


@pytest.mark.parametrize("who", ["viewer", "publisher", "approver"])
async def test_only_service_and_admin_may_report(api: Api, who: str) -> None:
    r = await post(api, [event()], who)
    assert r.status == 403, await r.text()
    assert "service" in (await r.json())["detail"]
    r = await api.client.post("/api/v1/audit", json={"events": [event()]})
    assert r.status == 401
    for path, body in (("/api/v1/opa/status", {"labels": {"id": "x"}}), ("/api/v1/opa/logs", [])):
        assert (await api.call("POST", path, who, json=body)).status == 403
    assert await api.pool.fetchval(COUNT_SIDECAR) == 0
    assert (await post(api, [event()], "admin")).status == 200
    assert (await post(api, [event()], "service")).status == 200


async def test_query_by_request_id_and_decision(api: Api) -> None:
    shared = "req-shared"
    events = [
        event(request_id=shared),
        event(decision="deny", status=403),
        event(decision="deny", status=403, agent_id="gl-other"),
        event(decision="warn"),
        event(decision="fail_open", status=200),
    ]
    assert (await post(api, events)).status == 200
    # An OPA decision log about the same request id, to show the filter spans sources.
    log = {**decision(1), "decision_id": shared}
    await api.call(
        "POST",
        "/api/v1/opa/logs",
        "service",
        data=gzip_json([log]),
        headers={"Content-Type": "application/json"},
    )

    async def query(q: str) -> list[dict[str, Any]]:
        r = await api.call("GET", f"/api/v1/audit?{q}", "viewer")
        assert r.status == 200, await r.text()
        return (await r.json())["events"]

    found = await query(f"request_id={shared}")
    assert [e["action"] for e in found] == ["sidecar.invoke", "opa.decision"]
    denies = await query("decision=deny&action=sidecar.invoke")
    assert [e["after"]["agent_id"] for e in denies] == ["gl-cbam-calculator", "gl-other"]
    assert len(await query("decision=deny")) == 3  # the OPA log decided deny too
    assert len(await query("decision=deny&agent_id=gl-other")) == 1
    assert [e["after"]["decision"] for e in await query("decision=fail_open")] == ["fail_open"]
    assert await query("request_id=nothing") == []
    page = await query("action=sidecar.invoke&limit=2")
    assert len(page) == 2
    assert (await api.call("GET", "/api/v1/audit?decision=perhaps")).status == 422
    assert (await api.call("GET", "/api/v1/audit?decision=deny&decision=allow")).status == 400


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ({"decision": "deny"}, "audit_events_decision"),
        ({"decision": "deny", "after_seq": 100}, "audit_events_decision"),
        ({"request_id": "req-1"}, "audit_events_request"),
        ({"agent_id": "gl-x"}, "audit_events_agent"),
        ({"action": "sidecar.invoke"}, "audit_events_action"),
    ],
)
async def test_audit_filters_can_use_their_indexes(
    api: Api, query: dict[str, Any], index: str
) -> None:
    """The SQL the service runs matches the indexes (with sequential scans off the planner picks
    an index it can use; an expression that does not match the index leaves a seq scan)."""
    sql, args = audit_query(AuditFilter.model_validate(query))
    async with api.pool.acquire() as conn:
        await conn.execute("SET enable_seqscan = off")
        try:
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
            assert index in plan, plan
            if "decision" in query:
                state = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {STATE_SQL}"))
                assert "audit_events_bundle_state_v4" in state, state
        finally:
            await conn.execute("RESET enable_seqscan")


async def test_audit_verify_cli_after_intake(api: Api, database_url: str) -> None:
    await post(api, [event() for _ in range(50)])
    await post(api, [event(decision="deny")])
    code, out, _ = await cli("audit", "verify", env={"GREENLANG_DATABASE_URL": database_url})
    total = await api.pool.fetchval("SELECT count(*) FROM audit_events")
    assert code == 0 and f"{total} events verified" in out, out


async def _bundle(api: Api) -> tuple[str, dict[str, Any], bytes]:
    r = await api.call("GET", "/api/v1/bundles/greenlang", "service")
    assert r.status == 200
    content = await r.read()
    data = json.loads(read_bundle_files(content)["greenlang/data.json"])
    return r.headers["ETag"], data, content


async def test_sidecar_events_do_not_rebuild_the_bundle(api: Api) -> None:
    etag, _, _ = await _bundle(api)
    await post(api, [event()])
    r = await api.call(
        "GET", "/api/v1/bundles/greenlang", "service", headers={"If-None-Match": etag}
    )
    assert r.status == 304
    assert api.client.app is not None
    cached = api.client.app[BUNDLES]._cached
    cached_state = cached[0] if cached else None
    newest = await api.pool.fetchval("SELECT max(seq) FROM audit_events")
    assert cached_state is not None and cached_state < newest


async def test_bundle_carries_role_bindings_of_live_tokens(api: Api) -> None:
    etag, data, content = await _bundle(api)
    # The fixture's tokens: name -> bindings (service tokens are machines: no binding).
    assert data["users"] == {
        "admin": {"roles": ["admin"]},
        "approver": {"roles": ["approver", "operator"]},
        "publisher": {"roles": ["publisher"], "team": "cbam-team"},
        "other_publisher": {"roles": ["publisher"], "team": "csrd-team"},
        "viewer": {"roles": ["viewer"]},
    }
    # A bound user needs no roles in the input: the stock RBAC grants operators `invoke`.
    engine = EmbeddedEngine.from_bundle(content)
    ask = {"action": "invoke", "policy_types": ["access_control"], "agent": {"id": "gl-x"}}
    assert (await engine.decide({**ask, "user": {"id": "approver"}}))["decision"] == "allow"
    assert (await engine.decide({**ask, "user": {"id": "viewer"}}))["decision"] == "deny"

    principal, _ = await create_token(api.service.store, Role.APPROVER, "cbam-team", "carla")
    etag2, data, _ = await _bundle(api)
    assert etag2 != etag
    assert data["users"]["carla"] == {"roles": ["approver", "operator"], "team": "cbam-team"}
    assert await revoke_token(api.service.store, principal.token_id)
    etag3, data, _ = await _bundle(api)
    assert "carla" not in data["users"] and etag3 == etag


async def test_cli_service_token_reports_events(api: Api, database_url: str) -> None:
    env = {"GREENLANG_DATABASE_URL": database_url}
    code, out, err = await cli(
        "token", "create", "--role", "service", "--name", "sidecar-cbam", env=env
    )
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    r = await api.client.post("/api/v1/audit", json={"events": [event()]}, headers=headers)
    assert r.status == 200 and (await r.json())["stored"] == 1
    r = await api.client.get("/api/v1/audit?action=sidecar.invoke", headers=headers)
    assert r.status == 200 and len((await r.json())["events"]) == 1
    # A service token reads (e.g. the bundle) but changes nothing in the registry.
    assert (await api.client.get("/api/v1/bundles/greenlang", headers=headers)).status == 200
    r = await api.client.post("/api/v1/agents", json={"spec": make_spec()}, headers=headers)
    assert r.status == 403


@pytest.mark.parametrize(("method", "path", "kw"), MUTATIONS)
async def test_service_cannot_mutate_the_registry(
    api: Api, method: str, path: str, kw: dict[str, Any]
) -> None:
    await api.register(make_spec())
    before = await api.counts()
    r = await api.call(method, path, "service", **kw)
    assert r.status == 403, await r.text()
    assert await api.counts() == before


async def test_gzip_bodies_are_accepted_and_bombs_refused(api: Api) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    body = gzip.compress(json.dumps({"events": [event(), event()]}).encode())
    r = await api.call("POST", "/api/v1/audit", "service", data=body, headers=headers)
    assert r.status == 200 and (await r.json())["stored"] == 2
    bomb = gzip.compress(b'{"events": [' + b" " * (64 * 1024 * 1024) + b"]}")
    r = await api.call("POST", "/api/v1/audit", "service", data=bomb, headers=headers)
    assert r.status == 413, await r.text()
    assert await api.pool.fetchval(COUNT_SIDECAR) == 2


async def test_openapi_describes_the_intake(api: Api) -> None:
    doc = await (await api.client.get("/openapi.json")).json()
    post_op = doc["paths"]["/api/v1/audit"]["post"]
    body = post_op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SidecarBatch"}
    batch = doc["components"]["schemas"]["SidecarBatch"]["properties"]["events"]
    assert batch["maxItems"] == 500 and batch["minItems"] == 1
    event_schema = doc["components"]["schemas"]["SidecarEvent"]
    assert set(event_schema["required"]) == set(event())
    names = {p["name"] for p in doc["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert {"request_id", "decision"} <= names


async def test_nul_characters_anywhere_are_400_not_500(api: Api) -> None:
    cert = {"agent_id": "gl-x1", "version": "1.0.0", "expires_at": "2099-01-01T00:00:00Z"}
    calls = [
        ("POST", "/api/v1/certificates", {"json": {**cert, "issuer": "a\x00b"}}),
        ("POST", "/api/v1/agents", {"json": {"spec": make_spec(description="Calc \x00" * 5)}}),
        ("GET", "/api/v1/audit?agent_id=a%00b", {}),
        ("GET", "/api/v1/audit?request_id=a%00b", {}),
    ]
    for method, path, kw in calls:
        r = await api.call(method, path, **kw)
        assert r.status == 400, (path, await r.text())
        assert r.headers["Content-Type"].startswith("application/problem+json")
