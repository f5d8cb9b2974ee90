"""An agent that crashes mid-answer, hangs, or answers garbage, behind the real sidecar process
(issue 14, "Fault tests"): the caller gets a clean problem+json 502/504, or — once the agent's
headers went out — a response cut short (the connection closed, as nginx and Envoy do), never
a 500 or a hung connection; the sidecar serves the next call; the audit event the registry
stores and the sidecar's metrics say what happened. The agent is tests/support/faulty_agent.py,
a real process killed by its own crash; the controller's restart of a killed agent is in
tests/deployments/test_controller.py (test_a_killed_agent_is_restarted_and_counted)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import SidecarProcess, caller_token, python_env
from tests.e2e.test_sidecar_e2e import AGENT, Stack
from tests.sidecar.test_enforcer import FAR, write_bundle
from tests.support.polling import wait_until
from tests.support.servers import ServerProcess

TIMEOUT_S = 1  # the agent's timeout_s in the sidecar's policy data: the hang cases end here
PART = b"data: first event\n\n"

# path -> (status, problem type, audit/metric error): the agent fails before its answer is whole,
# so the sidecar still answers for it (a JSON answer is read whole before it is passed on).
BEFORE_ANSWER = {
    "/close": (502, "upstream-reset", "upstream_reset"),
    "/garbage": (502, "upstream-protocol-error", "upstream_protocol_error"),
    "/truncated?type=json": (502, "upstream-reset", "upstream_reset"),
    "/hang": (504, "upstream-timeout", "upstream_timeout"),
    "/stall?type=json": (504, "upstream-timeout", "upstream_timeout"),
    "/crash?type=json": (502, "upstream-reset", "upstream_reset"),  # the agent process dies
}
# path -> audit/metric error: the agent's 200 and first event went out, then it failed.
MID_STREAM = {
    "/truncated": "upstream_reset",
    "/stall": "upstream_timeout",
    "/crash": "upstream_reset",
}


class FaultyAgent(ServerProcess):
    name = "faulty-agent"
    health_path = "/healthz"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.support.faulty_agent", "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        return python_env()

    def died(self) -> bool:
        return self._proc is not None and self._proc.poll() is not None


class Faults:
    """The faulty agent, the real sidecar in front of it (embedded engine on a local bundle,
    auditing to the stack's registry), and the caller."""

    def __init__(self, stack: Stack, agent: FaultyAgent, sidecar: SidecarProcess) -> None:
        self.stack, self.agent, self.sidecar = stack, agent, sidecar
        headers = {"Authorization": f"Bearer {caller_token()}"}
        # The client's timeout only bounds a hang (a failure); it is never reached when it passes.
        self.http = httpx.AsyncClient(base_url=sidecar.proxy_url, headers=headers, timeout=60)

    async def call(self, path: str) -> tuple[str, httpx.Response]:
        request_id = f"fault-{uuid.uuid4().hex[:12]}"
        r = await self.http.get(path, headers={"X-Request-Id": request_id})
        return request_id, r

    async def next_call_served(self) -> None:
        _, r = await self.call("/ok?type=json")
        assert r.status_code == 200 and r.json() == {"ok": True}, r.text

    async def revive(self) -> None:
        """After a crash: calls meanwhile are a clean 502; then the agent is started again."""
        assert await wait_until(self._dead, what="the agent process to die")
        _, r = await self.call("/ok")
        assert r.status_code == 502, r.text
        assert r.json()["type"].endswith("/upstream-unavailable")
        self.agent.close()
        self.agent.start()  # the same port, as a supervisor restarts it

    async def _dead(self) -> bool:
        return self.agent.died()

    async def events(self, request_ids: set[str]) -> dict[str, dict[str, Any]]:
        """The stored audit events of these calls, by request id, once all arrived."""

        async def arrived() -> dict[str, dict[str, Any]] | None:
            found = {
                e["after"]["request_id"]: e["after"]
                for e in self.stack.admin.sidecar_events(AGENT)
                if e["after"]["request_id"] in request_ids
            }
            return found if len(found) == len(request_ids) else None

        return await wait_until(arrived, what="the audit events in the registry")

    def errors_counted(self) -> dict[str, float]:
        text = httpx.get(self.sidecar.url + "/metrics").text
        return {
            s.labels["type"]: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "agent_errors_total" and s.labels.get("agent_id") == AGENT
        }


@pytest.fixture
async def faults(stack: Stack, tmp_path: Path) -> AsyncIterator[Faults]:
    entry = {"owner_team": "cbam-team", "version": "1.0.0", "status": "ACTIVE"}
    entry |= {"certificate_id": "cert-1", "certificate_expires_at": FAR}
    data = {"greenlang/sidecar": {"agents": {AGENT: {"timeout_s": TIMEOUT_S}}}}
    bundle = write_bundle(tmp_path, {AGENT: entry}, data)
    agent = FaultyAgent(tmp_path / "faulty-agent").start()
    args = ["--agent-id", AGENT, "--upstream", agent.url, "--bundle", str(bundle)]
    args += ["--registry", stack.registry.url, "--environment", "staging"]
    sidecar = SidecarProcess(tmp_path / "sidecar", args, token=stack.service_token)
    try:
        with sidecar:
            f = Faults(stack, agent, sidecar)
            yield f
            await f.http.aclose()
            log = sidecar.log()
            assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]
    finally:
        agent.close()


async def test_a_failing_agent_gets_the_caller_a_clean_502_or_504(faults: Faults) -> None:
    await faults.next_call_served()
    expected: dict[str, tuple[int, str]] = {}
    for path, (status, problem, error) in BEFORE_ANSWER.items():
        request_id, r = await faults.call(path)
        assert r.status_code == status, (path, r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/problem+json"), path
        body = r.json()
        assert body["type"].endswith(f"/{problem}") and body["status"] == status, (path, body)
        assert body["request_id"] == request_id and "Traceback" not in r.text
        expected[request_id] = (status, error)
        if path.startswith("/crash"):
            await faults.revive()
        await faults.next_call_served()

    events = await faults.events(set(expected))
    assert {i: (e["status"], e["error"]) for i, e in events.items()} == expected
    assert all(e["decision"] == "allow" for e in events.values())  # the policy let them pass
    counted = faults.errors_counted()
    assert counted.get("upstream_reset") == 3, counted  # /close, /truncated, /crash
    assert counted.get("upstream_protocol_error") == 1, counted
    assert counted.get("upstream_timeout") == 2, counted
    assert counted.get("upstream_unreachable") == 1, counted  # the call while it was dead


async def test_an_agent_failing_mid_stream_ends_the_stream(faults: Faults) -> None:
    expected: dict[str, str] = {}
    for path, error in MID_STREAM.items():
        request_id = f"fault-{uuid.uuid4().hex[:12]}"
        async with faults.http.stream("GET", path, headers={"X-Request-Id": request_id}) as r:
            assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
            got = b""
            with pytest.raises(httpx.RemoteProtocolError):  # closed: not complete, not hung
                async for chunk in r.aiter_raw():
                    got += chunk
            assert got == PART, path  # what the agent sent before it failed, nothing more
        expected[request_id] = error
        if path == "/crash":
            await faults.revive()
        await faults.next_call_served()

    events = await faults.events(set(expected))
    assert {i: e["error"] for i, e in events.items()} == expected
    assert all(e["status"] == 200 for e in events.values())  # what the caller was told
    counted = faults.errors_counted()
    assert counted.get("upstream_reset") == 2 and counted.get("upstream_timeout") == 1, counted
