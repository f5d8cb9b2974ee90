"""Helpers of the lifecycle tests: a registry API with the stock policies, agents registered
with an artifact, certificates, promotions and approvals through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import yaml

from registry.api.lifecycle import LIFECYCLE
from registry.control_plane.stock import install_stock_policies
from registry.lifecycle.manager import LifecycleManager
from registry.lifecycle.models import DeploymentStatus, Observation
from tests.api.conftest import Api, make_spec

AGENT_ID = "gl-cbam-calculator"
AGENT = f"/api/v1/agents/{AGENT_ID}"
ARTIFACT = b"def run(inputs):\n    return {'ok': True}\n"


async def with_stock_policies(api: Api) -> Api:
    await install_stock_policies(api.service.store)  # as serve does on a first start
    return api


def manager(api: Api) -> LifecycleManager:
    return api.client.app[LIFECYCLE]


async def register(api: Api, version: str = "1.0.0", artifact: bool = True) -> None:
    if not artifact:
        r = await api.register(make_spec(version=version), "publisher")
        assert r.status == 201, await r.text()
        return
    form = aiohttp.FormData()
    form.add_field("spec", yaml.safe_dump(make_spec(version=version)))
    form.add_field("artifact", ARTIFACT, filename="agent.py")
    r = await api.call("POST", "/api/v1/agents", "publisher", data=form)
    assert r.status == 201, await r.text()


async def certify(api: Api, version: str = "1.0.0") -> None:
    expires = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    body = {"agent_id": AGENT_ID, "version": version, "expires_at": expires, "issuer": "TÜV"}
    r = await api.call("POST", "/api/v1/certificates", "approver", json=body)
    assert r.status == 201, await r.text()


async def promote(
    api: Api, version: str = "1.0.0", who: str = "publisher", **body: Any
) -> tuple[int, Any]:
    r = await api.call("POST", f"{AGENT}/deploy", who, json={"version": version, **body})
    return r.status, await r.json(content_type=None)


async def approve(api: Api, deployment_id: str, who: str = "approver") -> tuple[int, Any]:
    r = await api.call(
        "POST", f"/api/v1/deployments/{deployment_id}/approvals", who, json={"comment": "ok"}
    )
    return r.status, await r.json(content_type=None)


async def deployed(api: Api, version: str, environment: str = "production") -> dict[str, Any]:
    """Certified, promoted by the publisher and approved by the approver: progressing."""
    await certify(api, version)
    status, doc = await promote(api, version, environment=environment)
    if status == 403:
        status, doc = await approve(api, doc["deployment_id"])
    assert status in (200, 201), doc
    assert doc["status"] == "progressing", doc
    return doc


async def get(api: Api, path: str, who: str = "viewer") -> Any:
    r = await api.call("GET", path, who)
    assert r.status == 200, await r.text()
    return await r.json()


async def stopped_by_controller(api: Api, deployment_id: str) -> None:
    """What the controller records once it removed a deployment's instances."""
    store = api.service.store
    await store.deployments.request_stop(deployment_id, "replaced", datetime.now(UTC))
    done = Observation(status=DeploymentStatus.STOPPED, instances=[], endpoint=None, message="")
    await store.deployments.record_observation(deployment_id, done, datetime.now(UTC))


async def audit(api: Api, action: str) -> list[dict[str, Any]]:
    page = await get(api, f"/api/v1/audit?action={action}", "admin")
    return list(page["events"])
