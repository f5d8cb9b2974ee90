"""The stock policies are installed once per database (registry/control_plane/stock.py): on the
first start, by one of any number of processes starting together, audited; an operator's later
changes survive restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bundles.layout import STOCK_POLICY_DIR
from registry.control_plane.stock import install_stock_policies
from registry.store.postgres import PgMetadataStore
from tests.api.conftest import Api

STOCK_IDS = {"compliance-certified-active", "deployment-production-certified"}


async def policy_ids(api: Api) -> dict[str, bool]:
    r = await api.call("GET", "/api/v1/policies")
    assert r.status == 200
    return {p["policy_id"]: p["enabled"] for p in await r.json()}


async def install_events(api: Api) -> list[dict[str, object]]:
    r = await api.call("GET", "/api/v1/audit", params={"action": "policy.install"})
    assert r.status == 200
    events: list[dict[str, object]] = (await r.json())["events"]
    return events


async def test_first_start_installs_every_stock_policy_once(api: Api) -> None:
    assert await policy_ids(api) == {}
    store = PgMetadataStore(api.pool)
    created = await install_stock_policies(store)
    stock = len(list(STOCK_POLICY_DIR.glob("*.yaml")))
    assert created is not None and len(created) == stock
    policies = await policy_ids(api)
    assert STOCK_IDS <= set(policies) and all(policies.values())
    [event] = await install_events(api)
    assert event["actor"] == "registry (admin)"
    assert event["after"] == {
        "created": created,
        "documents": sorted(p.name for p in STOCK_POLICY_DIR.glob("*.yaml")),
    }

    # Disabled by an operator: a restart leaves it disabled and audits nothing.
    r = await api.call("POST", "/api/v1/policies/compliance-certified-active/disable")
    assert r.status == 200, await r.text()
    assert await install_stock_policies(store) is None
    assert (await policy_ids(api))["compliance-certified-active"] is False
    assert len(await install_events(api)) == 1


async def test_concurrent_starts_install_once(api: Api) -> None:
    stores = [PgMetadataStore(api.pool) for _ in range(6)]
    results = await asyncio.gather(*(install_stock_policies(s) for s in stores))
    assert sum(r is not None for r in results) == 1
    assert len(await install_events(api)) == 1
    r = await api.call("GET", "/api/v1/policies/compliance-certified-active")
    assert [h["change"] for h in (await r.json())["history"]] == ["create"]


async def test_a_policy_already_stored_is_left_as_it_is(api: Api, tmp_path: Path) -> None:
    # A database upgraded to this version, where an operator created one stock policy by hand
    # and disabled it: installing the rest does not touch it.
    text = (STOCK_POLICY_DIR / "compliance-certified-active.yaml").read_bytes()
    headers = {"Content-Type": "application/yaml"}
    r = await api.call("POST", "/api/v1/policies", data=text, headers=headers)
    assert r.status == 201, await r.text()
    r = await api.call("POST", "/api/v1/policies/compliance-certified-active/disable")
    assert r.status == 200
    created = await install_stock_policies(PgMetadataStore(api.pool))
    assert created is not None and "compliance-certified-active" not in created
    assert "deployment-production-certified" in created
    assert (await policy_ids(api))["compliance-certified-active"] is False


async def test_a_broken_document_installs_nothing(api: Api, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((STOCK_POLICY_DIR / "access-admin-paths.yaml").read_text())
    (tmp_path / "b.yaml").write_text("policy_id: broken\n")
    store = PgMetadataStore(api.pool)
    with pytest.raises(ValueError):
        await install_stock_policies(store, tmp_path)
    assert await policy_ids(api) == {}
    assert await install_stock_policies(store, tmp_path / "none") == []  # the step is still open
