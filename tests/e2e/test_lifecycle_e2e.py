"""The lifecycle as a user lives it (issue 9, Acceptance): a real `greenlang-registry serve
--deployer X` (fresh data dir, stock policies only), the `greenlang-lifecycle` CLI as a
subprocess, agents running as processes or on the real Docker engine, callers with JWTs, and a
webhook receiver. promote → refused without approval → approve → ready → call → promote the
next version → deprecate (headers, signed webhook) → rollback → retire refused while deployed →
retire --undeploy → calls fail. For the process deployer: a killed agent is restarted, and a
restarted serve keeps its deployments."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from aiohttp import web

from registry.webhooks.signing import verify
from tests.e2e.lifecycle_stack import Serve, User, caller_jwt, cleanup
from tests.support import docker_engine
from tests.support.polling import wait_until
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "agents"
EXAMPLE = EXAMPLES / "cbam-cn-code-classifier"
SUCCESSOR = "cbam-default-values-lookup"  # registered, named as the replacement
AGENT = "cbam-cn-code-classifier"
INPUT = json.loads((EXAMPLE / "input.json").read_text())


@dataclass
class Receiver:
    """A webhook endpoint that keeps every request (headers and raw body)."""

    url: str = ""
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        return web.Response(status=204)


async def run(endpoint: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {caller_jwt()}"}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(f"{endpoint}/v1/run", json=INPUT, headers=headers)


async def refused(endpoint: str) -> bool:
    """True when a call cannot reach the agent: connection refused or a 403 of the sidecar."""
    try:
        r = await run(endpoint)
    except httpx.TransportError:
        return True
    return r.status_code == 403


def register(serve: Serve, token: str) -> None:
    """The example in 2.0.0 and a copy bumped to 2.1.0, both with the artifact, certified."""
    http = httpx.Client(
        base_url=serve.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}
    )
    spec = yaml.safe_load((EXAMPLE / "agent.yaml").read_text())
    for version in ("2.0.0", "2.1.0"):
        text: str = yaml.safe_dump(spec | {"version": version})
        files: dict[str, tuple[str, str | bytes, str]] = {
            "spec": ("agent.yaml", text, "application/yaml"),
            "artifact": ("artifact.py", (EXAMPLE / "artifact.py").read_bytes(), "text/x-python"),
        }
        r = http.post("/agents", files=files)
        assert r.status_code == 201, r.text
        cert = {"agent_id": AGENT, "version": version, "expires_at": "2099-01-01T00:00:00Z"}
        r = http.post("/certificates", json=cert | {"issuer": "e2e"})
        assert r.status_code == 201, r.text
    successor = yaml.safe_load((EXAMPLES / SUCCESSOR / "agent.yaml").read_text())
    r = http.post("/agents", json={"spec": successor})
    assert r.status_code == 201, r.text


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rec.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
def user_of(database_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Serve] = []

    def start(deployer: str) -> User:
        if deployer == "docker":
            docker_engine.runtime_image()  # built once for this tree before serve needs it
        serve = Serve(tmp_path / "registry", database_url, deployer)
        started.append(serve)
        serve.start()
        admin = serve.token("admin", name="alice")
        approver = serve.token("approver", name="bob")
        register(serve, admin)
        return User(serve, admin, approver)

    try:
        yield start
    finally:
        for serve in started:
            cleanup(serve)


async def promote_approved(user: User, version: str, *extra: str) -> dict[str, Any]:
    """promote → refused naming deployment-approval (nothing runs) → approve → promote again."""
    code, out, err = await user.cli("promote", AGENT, version, *extra)
    assert code == 3, (out, err)
    assert "deployment-approval" in err
    dep = err.split("greenlang-lifecycle approve ")[1].split()[0]
    pending = await user.deployment(dep)
    assert pending["status"] == "pending" and pending["instances"] == []
    out = await user.ok("approve", dep, "--comment", "four eyes", who="approver")
    assert "progressing" in out
    doc: dict[str, Any] = json.loads(
        await user.ok("promote", AGENT, version, "--json", "--timeout", "300")
    )
    assert doc["deployment_id"] == dep and doc["status"] == "ready", doc
    assert doc["endpoint"].startswith("http://127.0.0.1:")
    return doc


@pytest.mark.parametrize("deployer", ["process", "docker"])
async def test_the_lifecycle_through_the_cli(
    deployer: str, user_of: Any, receiver: Receiver
) -> None:
    user: User = user_of(deployer)
    out = await user.ok("subscribe", "--agent", AGENT, "--url", receiver.url, "--json")
    hook_secret = json.loads(out)["secret"]

    first = await promote_approved(user, "2.0.0")
    r = await run(first["endpoint"])
    assert r.status_code == 200, r.text
    assert "Deprecation" not in r.headers

    second = await promote_approved(user, "2.1.0")
    assert second["endpoint"] != first["endpoint"]
    stopped = await user.wait_status(first["deployment_id"], "stopped")
    assert stopped["stop_reason"], stopped
    assert await refused(first["endpoint"])

    sunset = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    await user.ok("deprecate", AGENT, "2.1.0", "--sunset", sunset, "--replacement", SUCCESSOR)

    async def deprecated_answer() -> httpx.Response | None:
        r = await run(second["endpoint"])
        return r if r.status_code == 200 and "Deprecation" in r.headers else None

    r = await wait_until(deprecated_answer, limit=60, what="Deprecation headers")
    assert r.headers["Sunset"].endswith("00:00:00 GMT") and sunset[:4] in r.headers["Sunset"]
    assert 'rel="successor-version"' in r.headers["Link"]
    assert SUCCESSOR in r.headers["Link"]

    async def deprecated_delivery() -> tuple[dict[str, str], bytes] | None:
        for headers, body in receiver.got:
            if headers.get("X-GreenLang-Event") == "version.deprecated":
                return headers, body
        return None

    headers, body = await wait_until(deprecated_delivery, limit=60, what="a webhook delivery")
    ts, sig = headers["X-GreenLang-Timestamp"], headers["X-GreenLang-Signature"]
    assert verify(hook_secret, body, ts, sig)
    assert not verify(hook_secret, body + b" ", ts, sig)
    event = json.loads(body)
    assert event["data"]["version"] == "2.1.0" and event["agent_id"] == AGENT

    out = await user.ok(
        "rollback", AGENT, "--to", "2.0.0", "--reason", "2.1.0 misclassifies steel", "--json"
    )
    back = await user.wait_status(json.loads(out)["deployment_id"], "ready")
    assert back["version"] == "2.0.0" and back["deployer"] == deployer
    assert (await run(back["endpoint"])).status_code == 200
    await user.wait_status(second["deployment_id"], "stopped")
    async with user.api() as http:
        r = await http.get("/audit", params={"action": "deployment.rollback", "agent_id": AGENT})
    [audit] = r.json()["events"]
    assert audit["actor"] == "alice (admin)", audit
    assert {k: audit["after"][k] for k in ("from", "to", "reason")} == {
        "from": "2.1.0",
        "to": "2.0.0",
        "reason": "2.1.0 misclassifies steel",
    }, audit

    code, _, err = await user.cli("retire", AGENT, "2.0.0")
    assert code == 2 and err.startswith("error: 409") and back["deployment_id"] in err, err
    assert (await run(back["endpoint"])).status_code == 200

    out = await user.ok("retire", AGENT, "2.0.0", "--undeploy", "--json")
    assert json.loads(out)["status"] == "retired"
    await user.wait_status(back["deployment_id"], "stopped")
    assert await wait_until(lambda: refused(back["endpoint"]), limit=30, what="calls refused")


def agent_hosts(data: Path) -> list[psutil.Process]:
    """The agent host processes (not sidecars) started under ``data``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data) in cmdline and "agent_sdk.host" in cmdline:
            if proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


async def test_a_killed_agent_restarts_and_a_restarted_serve_keeps_deployments(
    user_of: Any,
) -> None:
    user: User = user_of("process")
    d = await promote_approved(user, "2.0.0")
    [host] = agent_hosts(user.serve.data)
    host.kill()

    async def restarted() -> dict[str, Any] | None:
        now = await user.deployment(d["deployment_id"])
        counts = [i["restarts"] for i in now["instances"]]
        return now if now["status"] == "ready" and counts and counts[0] >= 1 else None

    await wait_until(restarted, limit=120, what="a restarted agent")
    [again] = agent_hosts(user.serve.data)
    assert again.pid != host.pid
    assert (await run(d["endpoint"])).status_code == 200

    user.serve.close()  # SIGTERM
    assert (await run(d["endpoint"])).status_code == 200  # instances outlive the controller
    user.serve.start()
    kept = await user.wait_status(d["deployment_id"], "ready")
    assert kept["endpoint"] == d["endpoint"] and kept["version"] == "2.0.0"
    out = await user.ok("deployments", AGENT, "--status", "ready", "--json")
    assert [x["deployment_id"] for x in json.loads(out)] == [d["deployment_id"]]
    assert (await run(d["endpoint"])).status_code == 200
