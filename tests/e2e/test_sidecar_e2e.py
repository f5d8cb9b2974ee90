"""The governed agent end to end, every part a real process: the registry (policies, catalog,
bundle, audit intake), OPA polling the registry's bundle, the example CBAM agent, and
`greenlang-sidecar` in front of it (embedded engine polling the registry, or OPA)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.bundles.opa import wait_for
from tests.e2e.stack import (
    CALC,
    AgentProcess,
    RegistryClient,
    RegistryProcess,
    SidecarProcess,
    caller_token,
    opa_polling,
)

AGENT = "gl-cbam-embedded"
UNCERTIFIED = "gl-cbam-uncertified"
POLL_S = 1.0


@dataclass
class Stack:
    workdir: Path
    registry: RegistryProcess
    admin: RegistryClient
    service_token: str
    agent: AgentProcess

    def sidecar(self, name: str, agent_id: str, *extra: str) -> SidecarProcess:
        args = [
            "--agent-id",
            agent_id,
            "--upstream",
            self.agent.url,
            "--registry",
            self.registry.url,
            "--poll-interval",
            str(POLL_S),
            "--environment",
            "production",
            *self.signed(extra),
        ]
        return SidecarProcess(self.workdir / name, args, token=self.service_token)

    def signed(self, extra: tuple[str, ...]) -> list[str]:
        """The registry's key for a sidecar that loads the bundle itself (OPA verifies its own)."""
        if "--engine" in extra:
            return list(extra)
        return ["--verification-key", str(self.registry.verification_key()), *extra]


@pytest.fixture
def stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    registry = RegistryProcess(tmp_path / "registry", database_url).start()
    agent = AgentProcess(tmp_path / "agent").start()
    try:
        admin = RegistryClient(registry.url, registry.token("admin"))
        # No policy is posted: `serve` installs the stock policies on a fresh database.
        admin.register(AGENT, certified=True)
        admin.register(UNCERTIFIED, certified=False)
        yield Stack(tmp_path, registry, admin, registry.token("service"), agent)
    finally:
        agent.close()
        registry.close()


def call(
    sidecar: SidecarProcess,
    method: str,
    path: str,
    *,
    ctype: str | None = None,
    content: bytes | None = None,
    json: object = None,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {caller_token()}"}
    if ctype:
        headers["Content-Type"] = ctype
    url = sidecar.proxy_url + path
    return httpx.request(method, url, headers=headers, content=content, json=json, timeout=30)


def metric(sidecar: SidecarProcess, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(sidecar.url + "/metrics").text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def test_governed_calls_end_to_end(stack: Stack) -> None:
    with (
        stack.sidecar("sc", AGENT, "--rate-window", "1") as sc,
        stack.sidecar("sc-uncert", UNCERTIFIED) as uncert,
    ):
        # Allowed: the body comes back byte for byte.
        payload = bytes(range(256)) * 8192
        r = call(sc, "POST", "/v1/echo", content=payload, ctype="application/x-bin")
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/x-bin"
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(payload).digest()

        # Masking: e-mail and IBAN never leave the sidecar.
        r = call(sc, "POST", "/v1/calculate", json=CALC)
        assert r.status_code == 200, r.text
        assert "ops@acme.example" not in r.text and "DE89370400440532013000" not in r.text
        assert r.json()["declarant"]["name"] == "Acme"

        # Uncertified agent: 403 naming the policies.
        r = call(uncert, "GET", "/v1/factors")
        assert r.status_code == 403
        assert "compliance-certified-active" in {v["policy_id"] for v in r.json()["violations"]}

        # Rate: with a 1 s window the stock default (600/min, a caller without a role) allows
        # 10 calls per second.
        member = {"Authorization": f"Bearer {caller_token('otto', roles=())}"}
        with httpx.Client(base_url=sc.proxy_url, headers=member) as client:
            statuses = [client.get("/v1/factors").status_code for _ in range(30)]
        assert 429 in statuses
        limited = next(i for i, s in enumerate(statuses) if s == 429)
        assert all(s == 200 for s in statuses[:limited])

        assert metric(sc, "agent_invocations_total", agent_id=AGENT, status="success") >= 3
        assert metric(sc, "governance_violations_total", policy_id="rate-limit") >= 1

        # Audit rows: every call through the sidecar arrives in the registry.
        made = 2 + len(statuses)
        wait_for(lambda: len(stack.admin.sidecar_events(AGENT)) >= made)
        events = stack.admin.sidecar_events(AGENT)
        assert len(events) == made
        assert {e["after"]["decision"] for e in events} >= {"allow", "deny"}

        # Retired in the registry -> denied once the sidecar takes the next bundle revision
        # (the revision, not a clock, ties the denial to the poll; the timeout only bounds a hang).
        before = bundle_revision(sc)
        stack.admin.retire(AGENT)
        wait_for(
            lambda: call(sc, "GET", "/v1/factors").status_code == 403, timeout=60, interval=0.05
        )
        assert bundle_revision(sc) not in (before, None)


def bundle_revision(sidecar: SidecarProcess) -> str | None:
    """The bundle revision the sidecar says it is using."""
    revision = httpx.get(sidecar.url + "/readyz").json().get("revision")
    return revision if isinstance(revision, str) else None


def refused(sc: SidecarProcess) -> httpx.Response | None:
    """The answer to a call when it is not a 200, else None."""
    r = call(sc, "GET", "/v1/factors")
    return r if r.status_code != 200 else None


def test_opa_engine_fails_closed_and_recovers(stack: Stack) -> None:
    opa = opa_polling(stack.workdir / "opa", stack.registry, stack.service_token).start()
    try:
        sc = stack.sidecar("sc-opa", AGENT, "--engine", opa.url)
        with sc:
            assert call(sc, "GET", "/v1/factors").status_code == 200
            opa.close()
            # Decisions already had are reused for --decision-cache-ttl (1 s; its expiry is
            # tested with an injected clock in tests/sidecar/test_decisions.py), then it fails
            # closed. The timeout only bounds a hang.
            r = wait_for(lambda: refused(sc), timeout=60)
            assert r.status_code == 503
            assert r.json()["type"].endswith("/decision-unavailable")
            assert httpx.get(sc.url + "/readyz").status_code == 503
            opa.start()
            assert wait_for(lambda: call(sc, "GET", "/v1/factors").status_code == 200)
    finally:
        opa.close()


def test_registry_outage_spools_and_delivers_every_event(stack: Stack) -> None:
    with stack.sidecar("sc-spool", AGENT) as sc:
        assert call(sc, "GET", "/v1/factors").status_code == 200
        wait_for(lambda: len(stack.admin.sidecar_events(AGENT)) == 1)
        stack.registry.close()
        ids = []
        for _ in range(30):
            r = call(sc, "POST", "/v1/calculate", json=CALC)
            assert r.status_code == 200  # the last good bundle keeps deciding
            ids.append(r.headers["X-Request-Id"])
        spooled = metric(sc, "sidecar_audit_spool_events")
        assert spooled >= 30
        stack.registry.start()
        wait_for(lambda: len(stack.admin.sidecar_events(AGENT)) >= 31)
        events = stack.admin.sidecar_events(AGENT)
        assert len(events) == 31  # none lost, none twice
        delivered = [e["request_id"] for e in events][1:]
        assert delivered == ids  # in order
        assert all(e["after"]["tokens"]["total"] > 0 for e in events[1:])
