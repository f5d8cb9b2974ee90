"""The command lines and environments of an instance's two processes: the agent (the agent
host over the artifact, or the spec's own command) and ``greenlang-sidecar`` in front of it."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from registry.deployments.deployer import DeploymentSpec, SidecarConfig
from registry.deployments.sidecar_args import sidecar_argv as shared_sidecar_argv

# the agent runs artifact code: it gets no registry secrets, only what a program needs to run
AGENT_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH")
PYTHON_NAMES = ("python", "python3")
LOOPBACK = "127.0.0.1"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(spec: DeploymentSpec, artifact_sha256: str) -> str:
    """Of everything an instance is started with, except the replica count."""
    doc = {
        "agent": [spec.agent_id, spec.version, spec.environment, artifact_sha256],
        "runtime": asdict(spec.runtime),
        "sidecar": asdict(spec.sidecar),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def check(spec: DeploymentSpec) -> None:
    """Refuse, before anything starts, a spec no instance could be started from."""
    if spec.replicas < 0:
        raise ValueError("replicas must not be negative")
    if spec.runtime.kind not in ("python-run", "command"):
        raise ValueError(f"unknown runtime kind {spec.runtime.kind!r}")
    if spec.runtime.kind == "command" and not spec.runtime.command:
        raise ValueError("a command runtime needs its command")
    if not spec.artifact.is_file():
        raise ValueError(f"artifact {spec.artifact}: no such file")


def agent_argv(spec: DeploymentSpec, artifact: Path, port: int) -> list[str]:
    if spec.runtime.kind == "python-run":
        return [
            sys.executable, "-m", "agent_sdk.host",
            "--artifact", str(artifact), "--host", LOOPBACK, "--port", str(port),
        ]  # fmt: skip
    argv = [
        part.replace("{port}", str(port)).replace("{artifact}", str(artifact))
        for part in spec.runtime.command
    ]
    if argv[0] in PYTHON_NAMES:
        argv[0] = sys.executable
    return argv


def agent_env(spec: DeploymentSpec, port: int) -> dict[str, str]:
    # OTEL_*: an agent traces where its sidecar does (OTEL_EXPORTER_OTLP_ENDPOINT, sampling)
    env = {k: v for k, v in os.environ.items() if k in AGENT_ENV_KEEP or k.startswith("OTEL_")}
    return env | {
        "PORT": str(port),
        "GREENLANG_AGENT_ID": spec.agent_id,
        "GREENLANG_AGENT_VERSION": spec.version,
        "GREENLANG_ENVIRONMENT": spec.environment,
    }


def sidecar_argv(
    spec: DeploymentSpec, instance: str, ports: dict[str, int], spool: Path
) -> list[str]:
    return shared_sidecar_argv(
        spec,
        program=(sys.executable, "-m", "sidecar.cli"),
        upstream=f"http://{LOOPBACK}:{ports['agent']}",
        listen=f"{LOOPBACK}:{ports['listen']}",
        admin_listen=f"{LOOPBACK}:{ports['admin']}",
        spool_dir=str(spool),
        sidecar_id=instance,
    )


def sidecar_env(cfg: SidecarConfig) -> dict[str, str]:
    """The controller's environment without its own GREENLANG_* settings (database URL, ...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENLANG_")}
    return env | ({"GREENLANG_TOKEN": cfg.token} if cfg.token else {})
