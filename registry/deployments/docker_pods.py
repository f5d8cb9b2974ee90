"""What one replica's two containers are created with: a pod of an agent container and a
``greenlang-sidecar`` container sharing its network namespace.

The agent container owns the namespace and publishes the sidecar's ports on 127.0.0.1 (the
engine picks free host ports). Inside, the agent listens on 127.0.0.1 only, so nothing but the
sidecar reaches it; the sidecar listens on all of the pod's addresses. The agent's readiness is
a Docker HEALTHCHECK run inside the pod (a bash ``/dev/tcp`` GET: no Python start-up per probe).

Files the containers need from the host (the artifact, a bundle file, the JWT secret) are
copied into them before they start, so a container never depends on a host path that a later
clean-up removes. URLs on the host's loopback (registry, bundle, JWKS, OPA) are rewritten to
``host.docker.internal``, mapped to the bridge gateway: the service behind them must listen on
an address the bridge reaches (0.0.0.0 or the docker0 address), not only on 127.0.0.1.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from docker.models.containers import Container

from registry.deployments.deployer import DeploymentSpec, SidecarConfig
from registry.deployments.sidecar_args import sidecar_argv

AGENT_PORT = 8080
LISTEN_PORT = 8000
ADMIN_PORT = 8001
ARTIFACT = "/agent/artifact.py"
SECRETS = "/etc/greenlang"
VERIFICATION_KEY = f"{SECRETS}/bundle-verification.pem"  # the registry's public bundle key
HOST_ALIAS = "host.docker.internal"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
LABEL = "greenlang"  # every label key starts with it; the values below are its suffixes


@dataclass(frozen=True)
class Pod:
    """Identity of one replica's containers: where they belong and what started them."""

    namespace: str  # several controllers (or test runs) may share one engine
    spec: DeploymentSpec
    index: int
    fingerprint: str
    image: str

    @property
    def instance(self) -> str:
        return f"{self.spec.deployment_id}-{self.index}"

    def name(self, role: str) -> str:
        return f"gl-{self.namespace}-{self.instance}-{role}"

    def labels(self, role: str, restarts: int, failures: int) -> dict[str, str]:
        return {
            f"{LABEL}.namespace": self.namespace,
            f"{LABEL}.deployment": self.spec.deployment_id,
            f"{LABEL}.agent": self.spec.agent_id,
            f"{LABEL}.version": self.spec.version,
            f"{LABEL}.replica": str(self.index),
            f"{LABEL}.role": role,
            f"{LABEL}.fingerprint": self.fingerprint,
            f"{LABEL}.restarts": str(restarts),
            f"{LABEL}.failures": str(failures),
        }


def agent_options(pod: Pod, host_ports: dict[int, int | None]) -> dict[str, Any]:
    """``containers.create`` keyword arguments of the agent container (owner of the pod's
    network namespace); ``host_ports`` maps container ports to host ports (None: any free)."""
    spec = pod.spec
    return {
        "image": pod.image,
        "command": agent_command(spec),
        "name": pod.name("agent"),
        "init": True,  # Python as PID 1 would ignore SIGTERM
        "environment": {
            "PORT": str(AGENT_PORT),
            "GREENLANG_AGENT_ID": spec.agent_id,
            "GREENLANG_AGENT_VERSION": spec.version,
            "GREENLANG_ENVIRONMENT": spec.environment,
        },
        "ports": {f"{port}/tcp": ("127.0.0.1", host) for port, host in host_ports.items()},
        "extra_hosts": {HOST_ALIAS: "host-gateway"},
        "healthcheck": _health_check(spec.runtime.health_path),
        "working_dir": "/agent",
    }


def agent_command(spec: DeploymentSpec) -> list[str]:
    if spec.runtime.kind == "python-run":
        return [
            "python3", "-m", "agent_sdk.host",
            "--artifact", ARTIFACT, "--host", "127.0.0.1", "--port", str(AGENT_PORT),
        ]  # fmt: skip
    return [
        part.replace("{port}", str(AGENT_PORT)).replace("{artifact}", ARTIFACT)
        for part in spec.runtime.command
    ]


def _health_check(path: str) -> dict[str, Any]:
    probe = (
        f"exec 3<>/dev/tcp/127.0.0.1/{AGENT_PORT} && "
        f"printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && "
        'read -r _ code _ <&3 && test "$code" = 200'
    )
    second = 1_000_000_000  # the API counts nanoseconds
    return {"test": ["CMD", "bash", "-c", probe], "interval": second, "timeout": 2 * second,
            "retries": 3}  # fmt: skip


def sidecar_options(pod: Pod, agent: Container) -> dict[str, Any]:
    spec, cfg = pod.spec, pod.spec.sidecar
    command = sidecar_argv(
        spec,
        program=("python3", "-m", "sidecar.cli"),
        upstream=f"http://127.0.0.1:{AGENT_PORT}",
        listen=f"0.0.0.0:{LISTEN_PORT}",
        admin_listen=f"0.0.0.0:{ADMIN_PORT}",
        url=to_bridge,
        bundle=_bundle_in_container(cfg.bundle_url) if cfg.bundle_url else None,
        jwt_secret_file=f"{SECRETS}/jwt.secret",
        verification_key=VERIFICATION_KEY,
        spool_dir="/var/spool/greenlang",
        sidecar_id=pod.instance,
    )
    return {
        "image": pod.image,
        "command": command,
        "name": pod.name("sidecar"),
        "init": True,
        "network_mode": f"container:{agent.id}",
        "environment": {"GREENLANG_TOKEN": cfg.token} if cfg.token else {},
    }


def copy_agent_files(agent: Container, spec: DeploymentSpec) -> None:
    put_files(agent, {ARTIFACT: spec.artifact.read_bytes()})


def copy_sidecar_files(sidecar: Container, cfg: SidecarConfig) -> None:
    files = {}
    if cfg.bundle_url and cfg.engine == "embedded" and _is_file(cfg.bundle_url):
        files[_bundle_in_container(cfg.bundle_url)] = Path(cfg.bundle_url).read_bytes()
    if cfg.jwt_secret_file and not cfg.jwks_url:
        files[f"{SECRETS}/jwt.secret"] = Path(cfg.jwt_secret_file).read_bytes()
    if cfg.bundle_key_file:
        files[VERIFICATION_KEY] = Path(cfg.bundle_key_file).read_bytes()
    if files:
        put_files(sidecar, files)


def put_files(container: Container, files: dict[str, bytes]) -> None:
    """Copy files (absolute path -> content, read-only) into a created container."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in sorted({str(Path(p).parent).lstrip("/") for p in files}):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o444
            tar.addfile(info, io.BytesIO(content))
    container.put_archive("/", buffer.getvalue())


def to_bridge(url: str) -> str:
    """A URL on the host's loopback as the container reaches it; other values unchanged."""
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK_NAMES:
        return url
    netloc = HOST_ALIAS + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _is_file(location: str) -> bool:
    return "://" not in location


def _bundle_in_container(location: str) -> str:
    return f"{SECRETS}/bundle.tar.gz" if _is_file(location) else to_bridge(location)
