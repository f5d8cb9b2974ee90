"""The scale run's fleet: example agents certified, promoted to production, approved and
followed to ready through the registry API; then found again as processes (agent + sidecar
pairs) to measure their memory and to reach the agents directly for the baseline."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "agents"


class FleetError(RuntimeError):
    pass


@dataclass
class Deployed:
    agent_id: str
    version: str
    deployment_id: str
    endpoint: str
    deploy_s: float  # from the promote request to ready
    body: bytes  # the agent's example input


@dataclass
class Pair:
    """One instance: the agent process and the sidecar in front of it."""

    agent_id: str
    agent_url: str  # the agent host itself, bypassing the sidecar
    rss: int  # bytes, both processes
    pss: int  # proportional set size: shared pages split among their users
    sidecar_pss: int  # of the sidecar alone


def example_agents(limit: int) -> list[tuple[str, bytes]]:
    """(agent id, example input) of the example agents that have both, sorted by id."""
    found = []
    for d in sorted(EXAMPLES.iterdir()):
        if (d / "artifact.py").is_file() and (d / "input.json").is_file():
            found.append((d.name, (d / "input.json").read_bytes()))
    return found[:limit]


@dataclass
class Api:
    """The few registry calls the run needs, as two principals."""

    base: str
    admin: str  # promotes, certifies, retires
    approver: str  # approves (the policy wants someone other than the requester)
    session: aiohttp.ClientSession = field(init=False)

    async def __aenter__(self) -> Api:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            text = await r.text()
            return r.status, json.loads(text) if text else None

    async def must(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        status, doc = await self.call(method, path, body, token)
        if status >= 300:
            raise FleetError(f"{method} {path}: {status} {doc}")
        return doc


async def deploy_one(
    api: Api, agent_id: str, body: bytes, limit_s: float, environment: str = "production"
) -> Deployed:
    """Certify (when needed), promote to `environment`, approve, wait until ready."""
    entry = await api.must("GET", f"/api/v1/agents/{agent_id}")
    version = entry["current_version"]
    current = next(v for v in entry["versions"] if v["version"] == version)
    if not current["certified"]:
        expires = (datetime.now(UTC) + timedelta(days=365)).isoformat()
        await api.must(
            "POST",
            "/api/v1/certificates",
            {"agent_id": agent_id, "version": version, "expires_at": expires, "issuer": "bench"},
        )
    t0 = time.perf_counter()
    request = {"version": version, "environment": environment, "replicas": 1}
    status, doc = await api.call("POST", f"/api/v1/agents/{agent_id}/deploy", request)
    if status == 403 and doc.get("deployment_id"):  # awaiting the second person's approval
        doc = await api.must(
            "POST",
            f"/api/v1/deployments/{doc['deployment_id']}/approvals",
            {"comment": "scale run"},
            token=api.approver,
        )
    elif status >= 300:
        raise FleetError(f"promote {agent_id}: {status} {doc}")
    ready = await wait_status(api, doc["deployment_id"], {"ready"}, limit_s)
    return Deployed(
        agent_id, version, ready["deployment_id"], ready["endpoint"], time.perf_counter() - t0, body
    )


async def wait_status(api: Api, deployment_id: str, wanted: set[str], limit_s: float) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        doc = await api.must("GET", f"/api/v1/deployments/{deployment_id}")
        if doc["status"] in wanted:
            return doc
        if doc["status"] == "failed" and "failed" not in wanted:
            raise FleetError(f"{deployment_id} failed: {doc['message']}")
        if time.monotonic() > deadline:
            raise FleetError(f"{deployment_id}: still {doc['status']} after {limit_s:.0f}s")
        await asyncio.sleep(0.2)


async def deploy_fleet(
    api: Api, agents: list[tuple[str, bytes]], parallel: int, limit_s: float
) -> list[Deployed]:
    gate = asyncio.Semaphore(parallel)

    async def one(agent_id: str, body: bytes) -> Deployed:
        async with gate:
            return await deploy_one(api, agent_id, body, limit_s)

    return list(await asyncio.gather(*(one(a, b) for a, b in agents)))


def _flag(cmdline: list[str], name: str) -> str | None:
    return cmdline[cmdline.index(name) + 1] if name in cmdline[:-1] else None


def leftover_processes(root: Path) -> list[psutil.Process]:
    """Processes whose command line names a path under `root` (what this run started)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(root) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def instance_pairs(root: Path) -> list[Pair]:
    """Agent + sidecar processes started for this run (their command lines name paths under
    `root`), paired by the sidecar's --upstream port."""
    sidecars, agents = [], {}
    for proc in leftover_processes(root):
        cmd = proc.info["cmdline"]
        if "sidecar.cli" in cmd:
            sidecars.append((proc, cmd))
        elif "agent_sdk.host" in cmd and (port := _flag(cmd, "--port")):
            agents[port] = proc
    pairs = []
    for proc, cmd in sidecars:
        upstream = _flag(cmd, "--upstream") or ""
        agent = agents.get(upstream.rsplit(":", 1)[-1])
        if agent is None:
            continue
        mems = [p.memory_full_info() for p in (proc, agent)]
        pairs.append(
            Pair(
                agent_id=_flag(cmd, "--agent-id") or "?",
                agent_url=upstream,
                rss=sum(m.rss for m in mems),
                pss=sum(m.pss for m in mems),
                sidecar_pss=mems[0].pss,
            )
        )
    return pairs
