"""What a process-deployed agent inherits from the controller: a short list, the OTEL_* settings
(so it traces where its sidecar does), never the registry's own GREENLANG_* secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.deployments.deployer import DeploymentSpec, SidecarConfig
from registry.deployments.process_launch import agent_env


def test_the_agent_gets_otel_settings_and_no_registry_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("GREENLANG_DATABASE_URL", "postgresql://secret@db/registry")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    spec = DeploymentSpec(
        deployment_id="dep-1",
        agent_id="gl-a",
        version="1.0.0",
        environment="production",
        replicas=1,
        artifact=Path("/tmp/a.py"),
        sidecar=SidecarConfig(registry_url=None, token=None, environment="production"),
    )
    env = agent_env(spec, 9000)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert (env["GREENLANG_AGENT_ID"], env["GREENLANG_AGENT_VERSION"], env["PORT"]) == (
        "gl-a",
        "1.0.0",
        "9000",
    )
    assert "GREENLANG_DATABASE_URL" not in env and "AWS_SECRET_ACCESS_KEY" not in env
