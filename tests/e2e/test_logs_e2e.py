"""Logs of the real processes: the registry (`greenlang-registry serve`), `greenlang-sidecar`
(with io samples) and the agent host write one JSON shape on stdout, and ship the same lines to
a real OpenSearch through Elasticsearch's ``_bulk`` API, where ``_search`` finds them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.stack import (
    CALC,
    AgentHostProcess,
    AgentProcess,
    RegistryClient,
    RegistryProcess,
    SidecarProcess,
    caller_token,
)
from tests.support.opensearch import OpenSearchNode
from tests.support.polling import wait_until

AGENT = "gl-cbam-logs"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents" / "cbam-default-values-lookup"
COMMON = ("timestamp", "level", "event", "component")


def shipping(process: Any, env: dict[str, str]) -> None:
    """Make ``process`` ship its logs: its environment gains ``env``."""
    base: Callable[[], dict[str, str]] = process.environment
    process.environment = lambda: {**base(), **env}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a process's output, each of which must be a JSON object."""
    out = []
    for line in text.splitlines():
        assert line.startswith("{"), f"not a JSON log line: {line!r}"
        out.append(json.loads(line))
    return out


def ship_env(node: OpenSearchNode, index: str, spool: Path) -> dict[str, str]:
    return {
        "GREENLANG_LOG_SHIP_URL": node.url,
        "GREENLANG_LOG_SHIP_INDEX": index,
        "GREENLANG_LOG_SHIP_DIR": str(spool),
    }


async def test_every_component_logs_one_shape_and_ships_it(
    opensearch: OpenSearchNode, database_url: str, tmp_path: Path
) -> None:
    index = f"e2e-logs-{uuid.uuid4().hex[:10]}"
    registry = RegistryProcess(tmp_path / "registry", database_url)
    shipping(registry, ship_env(opensearch, index, tmp_path / "spool-registry"))
    agent = AgentProcess(tmp_path / "agent")
    host = AgentHostProcess(tmp_path / "host", EXAMPLE / "artifact.py")
    shipping(host, ship_env(opensearch, index, tmp_path / "spool-host"))
    with registry, agent, host:
        admin = RegistryClient(registry.url, registry.token("admin"))
        admin.register(AGENT, certified=True)
        missing = admin.http.get("/api/v1/agents/gl-no-such-agent")
        assert missing.status_code == 404
        args = ["--agent-id", AGENT, "--upstream", agent.url, "--registry", registry.url]
        args += ["--poll-interval", "1", "--log-sample-rate", "1"]
        args += ["--verification-key", str(registry.verification_key())]
        sidecar = SidecarProcess(tmp_path / "sidecar", args, token=registry.token("service"))
        shipping(sidecar, ship_env(opensearch, index, tmp_path / "spool-sidecar"))
        with sidecar:
            headers = {"Authorization": f"Bearer {caller_token()}", "X-Request-Id": "e2e-req-1"}
            inputs = json.loads((EXAMPLE / "input.json").read_text())
            async with httpx.AsyncClient(timeout=30) as http:
                r = await http.post(sidecar.proxy_url + "/v1/calculate", json=CALC, headers=headers)
                assert r.status_code == 200, r.text
                assert (await http.post(host.url + "/v1/run", json=inputs)).status_code == 200

            async def sample_shipped() -> list[Any] | None:
                if not opensearch.exists(index):
                    return None
                query = {"term": {"event.keyword": "io_sample"}}
                return opensearch.search(index, query) or None

            [sample] = await wait_until(sample_shipped, what="the io_sample in OpenSearch")
        printed = {
            "registry": json_lines(registry.log()),
            "sidecar": json_lines(sidecar.log()),
            "agent-host": json_lines(host.log()),
        }

    for component, lines in printed.items():
        assert lines, component
        for line in lines:
            assert all(k in line for k in COMMON), line
            assert line["component"] == component and line["timestamp"].endswith("Z")
    # The sidecar's sample: masked, with the call's ids.
    assert sample["component"] == "sidecar" and sample["agent_id"] == AGENT
    assert sample["request_id"] == "e2e-req-1" and len(sample["trace_id"]) == 32
    assert len(sample["span_id"]) == 16 and sample["version"] == "1.0.0"
    assert "ops@acme.example" not in json.dumps(sample) and sample["masked"] is True
    assert "REDACTED" in json.loads(sample["request_body"])["declarant"]["email"]
    # Every printed line of every component reaches the index (same ids), once.
    ids = {line["log_id"] for lines in printed.values() for line in lines}

    async def all_shipped() -> bool:
        return opensearch.count(index) >= len(ids)

    await wait_until(all_shipped, what="every printed line in OpenSearch")
    docs = opensearch.search(index, size=10_000)
    assert {d["_id"] for d in docs} == ids and len(docs) == len(ids)
