"""A real Prometheus (built by .ci/install.sh from the pinned module) scrapes a live registry,
live sidecars in front of the example agent, and OPA, with the job names of the shipped scrape
config; every metric of the plan's table, and the registry's join series the dashboards use,
comes back from its query API after real calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.bundles.opa import OpaProcess, wait_for
from tests.e2e.stack import (
    CALC,
    AgentHostProcess,
    AgentProcess,
    RegistryClient,
    RegistryProcess,
    SidecarProcess,
    caller_token,
)
from tests.support.servers import ServerProcess, find_binary, free_port

AGENT = "gl-cbam-embedded"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents" / "cbam-cn-code-classifier"
PLAN_TABLE = {  # metric -> the job whose targets export it
    "agent_invocations_total": "greenlang-sidecars",
    "agent_invocation_duration_seconds_bucket": "greenlang-sidecars",
    "agent_errors_total": "greenlang-sidecars",
    "agent_tokens_used_total": "greenlang-sidecars",
    "agent_concurrent_executions": "greenlang-sidecars",
    "governance_violations_total": "greenlang-sidecars",
    "agent_cache_hit_ratio": "greenlang-agents",
    "agent_certificate_expiry_days": "greenlang-registry",
}
JOINS = {  # series the dashboards join or chart from the registry and OPA
    "agent_info": "greenlang-registry",
    "greenlang_opa_bundle_info": "greenlang-registry",
    "registry_http_request_duration_seconds_bucket": "greenlang-registry",
    "sidecar_decisions_total": "greenlang-sidecars",
    "sidecar_bundle_info": "greenlang-sidecars",
    "up": "opa",
}


class PrometheusProcess(ServerProcess):
    name = "prometheus"
    health_path = "/-/ready"

    def __init__(self, workdir: Path, config: dict) -> None:
        super().__init__(workdir, timeout=60)
        self.config = config

    def command(self) -> list[str]:
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config))
        return [
            find_binary("prometheus"),
            f"--config.file={path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def query(self, expr: str) -> list[dict]:
        r = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["data"]["result"]


def scrape_config(jobs: dict[str, list[str]]) -> dict:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": hosts}]}
            for job, hosts in jobs.items()
        ],
    }


def host(url: str) -> str:
    return url.removeprefix("http://")


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[dict]:
    registry = RegistryProcess(tmp_path / "registry", database_url).start()
    agent = AgentProcess(tmp_path / "agent").start()
    procs: list[ServerProcess] = [agent, registry]
    try:
        admin = RegistryClient(registry.url, registry.token("admin"))
        admin.register(AGENT, certified=True)
        service = registry.token("service")
        opa = opa_reporting(tmp_path / "opa", registry.url, service).start()
        procs.insert(0, opa)
        common = ["--agent-id", AGENT, "--registry", registry.url, "--poll-interval", "1"]
        common += ["--verification-key", str(registry.verification_key())]
        good = SidecarProcess(
            tmp_path / "sc", [*common, "--upstream", agent.url, "--rate-window", "1"], service
        ).start()
        procs.insert(0, good)
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: upstream_unreachable
        broken = SidecarProcess(tmp_path / "sc-dead", [*common, "--upstream", dead], service)
        procs.insert(0, broken.start())
        sdk_host = AgentHostProcess(
            tmp_path / "host",
            EXAMPLE / "artifact.py",
            GREENLANG_AGENT_ID="cbam-cn-code-classifier",
            GREENLANG_AGENT_VERSION="2.0.0",
        )
        procs.insert(0, sdk_host.start())  # the agent SDK's metrics (cache lookups)
        yield {"registry": registry, "good": good, "broken": broken, "opa": opa, "host": sdk_host}
    finally:
        for p in procs:
            p.close()


def opa_reporting(workdir: Path, registry_url: str, token: str) -> OpaProcess:
    """A stock OPA taking the registry's bundle and reporting its status back to it."""
    workdir.mkdir(parents=True, exist_ok=True)
    bearer = {"bearer": {"token": token}}
    key = httpx.get(registry_url + "/bundle-verification-key").text  # OPA verifies bundles
    config = {  # bundles from /api/v1, status reports to /api/v1/opa (docs/registry.md)
        "keys": {"greenlang": {"algorithm": "RS256", "key": key}},
        "services": {
            "registry": {"url": registry_url + "/api/v1", "credentials": bearer},
            "registry-opa": {"url": registry_url + "/api/v1/opa", "credentials": bearer},
        },
        "bundles": {
            "greenlang": {
                "service": "registry",
                "resource": "bundles/greenlang",
                "signing": {"keyid": "greenlang"},
            }
        },
        "status": {"service": "registry-opa"},
    }
    path = workdir / "opa.json"
    path.write_text(json.dumps(config))
    return OpaProcess(workdir, ["--config-file", str(path)], health_path="/health?bundles")


def make_calls(good: SidecarProcess, broken: SidecarProcess) -> None:
    auth = {"Authorization": f"Bearer {caller_token()}"}
    r = httpx.post(good.proxy_url + "/v1/calculate", json=CALC, headers=auth, timeout=30)
    assert r.status_code == 200, r.text  # tokens reported by the agent
    member = {"Authorization": f"Bearer {caller_token('otto', roles=())}"}
    with httpx.Client(base_url=good.proxy_url, headers=member, timeout=30) as client:
        statuses = [client.get("/v1/factors").status_code for _ in range(30)]
    assert 429 in statuses  # the rate-limit policy: a governance violation
    r = httpx.get(broken.proxy_url + "/v1/factors", headers=auth, timeout=30)
    assert r.status_code == 502, r.text  # an agent error


def test_prometheus_scrapes_every_metric_of_the_plan(live: dict, tmp_path: Path) -> None:
    jobs = {
        "greenlang-registry": [host(live["registry"].url)],
        "greenlang-sidecars": [host(live["good"].url), host(live["broken"].url)],
        "opa": [host(live["opa"].url)],
        "greenlang-agents": [host(live["host"].url)],
    }
    make_calls(live["good"], live["broken"])
    example = json.loads((EXAMPLE / "input.json").read_text())
    r = httpx.post(live["host"].url + "/v1/run", json=example, timeout=30)
    assert r.status_code == 200, r.text
    with PrometheusProcess(tmp_path / "prometheus", scrape_config(jobs)) as prom:
        wanted = {**PLAN_TABLE, **JOINS}

        def missing() -> dict[str, str]:
            return {
                m: job
                for m, job in wanted.items()
                if not prom.query(f'count({m}{{job="{job}"}}) > 0')
            }

        try:
            wait_for(lambda: not missing(), timeout=60, what="every metric in Prometheus")
        except AssertionError:
            targets = httpx.get(prom.url + "/api/v1/targets", timeout=10).json()
            health = [
                (t["labels"]["job"], t["health"], t["lastError"])
                for t in targets["data"]["activeTargets"]
            ]
            raise AssertionError(f"missing {missing()}; targets {health}") from None
        tokens = prom.query('sum by (model) (agent_tokens_used_total{job="greenlang-sidecars"})')
        assert tokens and float(tokens[0]["value"][1]) > 0
        errors = prom.query('agent_errors_total{job="greenlang-sidecars"}')
        assert {e["metric"]["type"] for e in errors} == {"upstream_unreachable"}
        info = prom.query('agent_info{job="greenlang-registry"}')
        assert {(i["metric"]["team"], i["metric"]["regulatory_scope"]) for i in info} == {
            ("cbam-team", "CBAM")
        }
        assert prom.query('up{job="opa"} == 1')
