"""Sidecar replicas of one agent for the shared-store e2e tests (rate limits, token budgets):
a signed bundle that makes the agent ACTIVE and certified with some policy data, and the
`greenlang-sidecar` command of one replica in front of a shared agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import AgentProcess, SidecarProcess
from tests.sidecar.test_enforcer import FAR, write_bundle
from tests.support import bundle_keys


def active_bundle(tmp_path: Path, agent_id: str, data: dict[str, Any]) -> Path:
    """A signed bundle where ``agent_id`` is ACTIVE and certified, plus ``data``."""
    entry = {
        "owner_team": "cbam-team",
        "version": "1.0.0",
        "status": "ACTIVE",
        "certificate_id": "cert-1",
        "certificate_expires_at": FAR,
    }
    return write_bundle(tmp_path, {agent_id: entry}, data, signing=bundle_keys.signing())


def replica(
    tmp_path: Path, name: str, agent_id: str, agent: AgentProcess, bundle: Path, *extra: str
) -> SidecarProcess:
    args = ["--agent-id", agent_id, "--upstream", agent.url, "--bundle", str(bundle), *extra]
    args += ["--verification-key", str(bundle_keys.public_key(tmp_path / name))]
    return SidecarProcess(tmp_path / name, args)


def metric(sidecar: SidecarProcess, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with ``labels`` on the sidecar's /metrics."""
    text = httpx.get(sidecar.url + "/metrics", timeout=10).text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and labels.items() <= s.labels.items()
    )
