"""Traces end to end in a real Jaeger: a caller's traceparent → the sidecar (its invoke span and
the policy decision span) → the agent host process running an example agent through the SDK
(invocation and tool spans), all exported over OTLP/HTTP and found as ONE trace through Jaeger's
query API. The Jaeger binary comes from .ci/install.sh; without it the test fails."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from sidecar.app import Listen, Sidecar
from sidecar.auth import SecretAuthenticator
from sidecar.call import Target
from sidecar.policy_source import FileBundleSource
from sidecar.tracing import setup_tracing
from tests.e2e.stack import AgentHostProcess
from tests.sidecar.test_enforcer import FAR, ListSink, write_bundle
from tests.support.jaeger import JaegerProcess
from tests.support.polling import wait_until
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
AGENT = "cbam-cn-code-classifier"
ARTIFACT = ROOT / "examples" / "agents" / AGENT / "artifact.py"
SECRET = b"jaeger-e2e-secret-" + b"x" * 32
SIDECAR_SERVICE, AGENT_SERVICE = "greenlang-sidecar", "greenlang-agent"


@pytest.fixture
def jaeger(tmp_path: Path) -> Iterator[JaegerProcess]:
    with JaegerProcess(tmp_path / "jaeger") as server:
        _wait_for_receiver(server)
        yield server


def _wait_for_receiver(server: JaegerProcess, limit: float = 30.0) -> None:
    """The query API answers first; the OTLP receiver may start a moment later."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            resp = httpx.post(
                f"{server.otlp_url}/v1/traces",
                content=b"",
                headers={"Content-Type": "application/x-protobuf"},
                timeout=2,
            )
            if resp.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"jaeger's OTLP receiver is not up:\n{server.log()[-2000:]}")


def caller_token() -> str:
    claims = {"sub": "carla", "roles": ["operator"], "team": "cbam", "exp": int(time.time()) + 600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def spans_by_name(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {span["operationName"]: span for span in trace["spans"]}


def parent_of(span: dict[str, Any]) -> str | None:
    refs = [r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
    return refs[0] if refs else None


async def test_one_trace_runs_caller_sidecar_policy_agent_and_tool(
    jaeger: JaegerProcess, tmp_path: Path
) -> None:
    host = AgentHostProcess(
        tmp_path / "agent",
        ARTIFACT,
        OTEL_EXPORTER_OTLP_ENDPOINT=jaeger.otlp_url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        GREENLANG_AGENT_ID=AGENT,
        GREENLANG_AGENT_VERSION="1.0.0",
    )
    await asyncio.to_thread(host.start)
    catalog = {
        AGENT: {
            "owner_team": "cbam",
            "version": "1.0.0",
            "status": "ACTIVE",
            "certificate_id": "cert-1",
            "certificate_expires_at": FAR,
        }
    }
    exporter = OTLPSpanExporter(endpoint=f"{jaeger.otlp_url}/v1/traces")
    sidecar = Sidecar(
        target=Target(AGENT, None, "production", "jaeger-e2e"),
        upstream=host.url,
        listen=Listen("127.0.0.1", free_port()),
        admin_listen=Listen("127.0.0.1", free_port()),
        source=FileBundleSource(write_bundle(tmp_path, catalog)),
        authenticator=SecretAuthenticator(SECRET),
        sink=ListSink(),
        tracer_provider=setup_tracing(exporter=exporter, batch=True),
    )
    await sidecar.start()
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    try:
        headers = {
            "Authorization": f"Bearer {caller_token()}",
            "traceparent": f"00-{trace_id}-{caller_span}-01",
        }
        url = f"http://127.0.0.1:{sidecar.listen.port}/v1/run"
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json={"cn_codes": ["72081000"]}, headers=headers) as resp,
        ):
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["in_scope"] == ["72081000"]
    finally:
        await sidecar.stop()  # flushes the sidecar's spans to Jaeger
    wanted = {
        "sidecar.invoke",
        "governance.pre_check",
        f"invoke_agent {AGENT}",
        "execute_tool classify_cn_code",
    }

    async def complete_trace() -> list[dict[str, Any]] | None:
        traces = await asyncio.to_thread(jaeger.trace, trace_id)
        found = {name for t in traces for name in spans_by_name(t)}
        return traces if wanted <= found else None

    try:
        traces = await wait_until(complete_trace, limit=30, what="one trace with every span")
    finally:
        await asyncio.to_thread(host.close)

    [trace] = traces  # one trace holds them all
    assert trace["traceID"] == trace_id
    spans = spans_by_name(trace)
    service = {pid: p["serviceName"] for pid, p in trace["processes"].items()}
    assert service[spans["sidecar.invoke"]["processID"]] == SIDECAR_SERVICE
    assert service[spans["governance.pre_check"]["processID"]] == SIDECAR_SERVICE
    assert service[spans[f"invoke_agent {AGENT}"]["processID"]] == AGENT_SERVICE
    assert service[spans["execute_tool classify_cn_code"]["processID"]] == AGENT_SERVICE
    # caller → sidecar.invoke → (policy check, upstream) → agent invocation → tool
    invoke = spans["sidecar.invoke"]
    assert parent_of(invoke) == caller_span
    assert parent_of(spans["governance.pre_check"]) == invoke["spanID"]
    assert parent_of(spans["upstream"]) == invoke["spanID"]
    agent = spans[f"invoke_agent {AGENT}"]
    assert parent_of(agent) == spans["upstream"]["spanID"]
    tool = spans["execute_tool classify_cn_code"]
    assert parent_of(tool) == agent["spanID"]
    tags = {t["key"]: t["value"] for t in tool["tags"]}
    assert tags["gen_ai.operation.name"] == "execute_tool"
    assert tags["gen_ai.tool.name"] == "classify_cn_code"
    agent_tags = {t["key"]: t["value"] for t in agent["tags"]}
    assert agent_tags["agent.id"] == AGENT and agent_tags["agent.version"] == "1.0.0"
