"""/api/v1/subscriptions through the real API: who may subscribe to what, the secret shown once,
bad input refused with nothing stored, deletion, deliveries, and the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.conftest import Api, make_spec

SUBS = "/api/v1/subscriptions"
AGENT = "gl-cbam-calculator"
HOOK = {"url": "https://hooks.example/greenlang", "agent_id": AGENT}


async def subscribe(api: Api, body: dict[str, Any], who: str = "publisher") -> Any:
    return await api.call("POST", SUBS, who, json=body)


async def stored(api: Api) -> tuple[int, int]:
    subs = await api.pool.fetchval("SELECT count(*) FROM webhook_subscriptions")
    audit = await api.pool.fetchval("SELECT count(*) FROM audit_events")
    return subs, audit


@pytest.fixture
async def agent(api: Api) -> Api:
    r = await api.register(make_spec())
    assert r.status == 201, await r.text()
    return api


async def test_create_returns_the_secret_once(agent: Api) -> None:
    api = agent
    r = await subscribe(api, {**HOOK, "events": ["version.deprecated", "version.retired"]})
    assert r.status == 201, await r.text()
    created = await r.json()
    sid = created["subscription_id"]
    assert r.headers["Location"] == f"{SUBS}/{sid}"
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["owner_team"] == "cbam-team"
    assert created["events"] == ["version.deprecated", "version.retired"]
    for path in (f"{SUBS}/{sid}", SUBS):
        r = await api.call("GET", path, "publisher")
        assert r.status == 200
        assert created["secret"] not in await r.text()
    r = await api.call("GET", f"/api/v1/audit?action=webhook.subscribe&agent_id={AGENT}")
    (event,) = (await r.json())["events"]
    assert event["target"] == f"subscription:{sid}"
    assert event["after"]["url"] == HOOK["url"]
    assert created["secret"] not in json.dumps(event)


async def test_team_subscriptions_and_who_sees_what(agent: Api) -> None:
    api = agent
    team = {"url": "https://hooks.example:8443/team-hook", "team": "cbam-team", "events": ["*"]}
    assert (await subscribe(api, team)).status == 201
    assert (await subscribe(api, {**team, "team": "csrd-team"}, "other_publisher")).status == 201
    assert (await subscribe(api, HOOK, "admin")).status == 201

    async def listed(who: str, query: str = "") -> list[str | None]:
        r = await api.call("GET", SUBS + query, who)
        assert r.status == 200, await r.text()
        return sorted(s["team"] or s["agent_id"] for s in await r.json())

    assert await listed("publisher") == ["cbam-team", AGENT]
    assert await listed("other_publisher") == ["csrd-team"]
    assert await listed("admin") == ["cbam-team", "csrd-team", AGENT]
    assert await listed("admin", "?team=csrd-team") == ["csrd-team"]
    assert await listed("admin", f"?agent_id={AGENT}") == [AGENT]
    for who in ("viewer", "approver", "service"):
        assert (await api.call("GET", SUBS, who)).status == 403


@pytest.mark.parametrize(
    ("who", "body"),
    [
        ("viewer", HOOK),
        ("approver", HOOK),
        ("service", HOOK),
        ("other_publisher", HOOK),  # the agent belongs to cbam-team
        ("publisher", {"url": HOOK["url"], "team": "csrd-team"}),
    ],
)
async def test_refused_subscriptions_store_nothing(agent: Api, who: str, body: Any) -> None:
    before = await stored(agent)
    r = await subscribe(agent, body, who)
    assert r.status == 403, await r.text()
    assert r.content_type == "application/problem+json"
    assert await stored(agent) == before


BAD = [
    {**HOOK, "url": "ftp://hooks.example/x"},
    {**HOOK, "url": "file:///etc/passwd"},
    {**HOOK, "url": "hooks.example/x"},
    {**HOOK, "url": "https://"},
    {**HOOK, "url": "https://user:pw@hooks.example/x"},
    {**HOOK, "url": "https://hooks.example/x\x00"},
    {**HOOK, "url": "https://hooks.example/a b"},
    {**HOOK, "url": "https://hooks.example:99999/x"},
    {**HOOK, "url": "https://hooks.example/" + "x" * 2100},
    {**HOOK, "url": 5},
    {"url": HOOK["url"]},  # no scope
    {**HOOK, "team": "cbam-team"},  # two scopes
    {**HOOK, "agent_id": "Not An Id"},
    {**HOOK, "events": []},
    {**HOOK, "events": ["version.exploded"]},
    {**HOOK, "events": "version.deprecated"},
    {**HOOK, "secret": "mine"},
    {**HOOK, "url": None},
]


@pytest.mark.parametrize("body", BAD)
async def test_bad_subscriptions_are_422_and_store_nothing(agent: Api, body: Any) -> None:
    before = await stored(agent)
    r = await subscribe(agent, body)
    assert r.status == 422, await r.text()
    assert r.content_type == "application/problem+json"
    assert await stored(agent) == before


async def test_other_bad_requests(agent: Api) -> None:
    api = agent
    before = await stored(api)
    r = await api.call("POST", SUBS, "publisher", data=b"{not json", headers=JSON)
    assert r.status in (400, 422)
    r = await api.call("POST", SUBS, "publisher", data=b"x" * 70_000, headers=JSON)
    assert r.status == 413
    r = await api.call("POST", SUBS, "publisher", data=b"url=x", headers={"Content-Type": "a/b"})
    assert r.status == 415
    r = await subscribe(api, {**HOOK, "agent_id": "gl-nobody"})
    assert r.status == 404
    assert await stored(api) == before
    for query in ("?limit=0", "?limit=x", "?team=Bad Team", "?nope=1"):
        assert (await api.call("GET", SUBS + query, "publisher")).status == 422
    assert (await api.call("GET", SUBS + "?limit=1&limit=2", "publisher")).status == 400
    assert (await api.call("GET", f"{SUBS}/sub-none", "publisher")).status == 404
    assert (await api.call("DELETE", f"{SUBS}/sub-none", "publisher")).status == 404
    assert (await api.call("GET", f"{SUBS}/sub-none/deliveries", "publisher")).status == 404


JSON = {"Content-Type": "application/json"}


async def test_a_deleted_agent_takes_no_new_subscriptions(agent: Api) -> None:
    assert (await agent.call("DELETE", f"/api/v1/agents/{AGENT}")).status == 200
    before = await stored(agent)
    assert (await subscribe(agent, HOOK)).status == 409
    assert await stored(agent) == before


async def test_delete_stops_deliveries_and_is_audited(agent: Api) -> None:
    api = agent
    created = await (await subscribe(api, HOOK)).json()
    sid = created["subscription_id"]
    async with api.service.store.transaction() as tx:
        n = await tx.webhooks.enqueue_event(
            AGENT, "cbam-team", "version.retired", {"version": "1.0.0"}, datetime.now(UTC)
        )
    assert n == 1
    r = await api.call("GET", f"{SUBS}/{sid}/deliveries", "publisher")
    (delivery,) = await r.json()
    assert (delivery["event"], delivery["payload"], delivery["attempts"]) == (
        "version.retired",
        {"version": "1.0.0"},
        0,
    )
    assert (await api.call("GET", f"{SUBS}/{sid}/deliveries", "other_publisher")).status == 403
    assert (await api.call("DELETE", f"{SUBS}/{sid}", "other_publisher")).status == 403
    assert (await api.call("DELETE", f"{SUBS}/{sid}", "viewer")).status == 403
    r = await api.call("DELETE", f"{SUBS}/{sid}", "publisher")
    assert r.status == 200
    assert (await api.call("GET", f"{SUBS}/{sid}", "publisher")).status == 404
    assert (await api.call("DELETE", f"{SUBS}/{sid}", "publisher")).status == 404
    assert await api.pool.fetchval(
        "SELECT last_error FROM webhook_deliveries WHERE gave_up_at IS NOT NULL"
    ) == ("subscription deleted")
    r = await api.call("GET", "/api/v1/audit?action=webhook.unsubscribe")
    (event,) = (await r.json())["events"]
    assert event["target"] == f"subscription:{sid}"
    assert event["actor"].startswith("publisher")
