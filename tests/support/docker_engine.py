"""The real Docker engine for tests: the one ``.ci/docker-engine.sh`` starts (CI runs it from
install.sh; a developer's first Docker test runs it when no engine answers). No engine means
the tests fail, never skip.

Containers started by tests live in namespaces of this test process (``t<pid>-...``), so
parallel pytest workers sharing the engine never see, adopt or delete each other's; the
session's clean-up removes every container of its namespaces.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from docker import DockerClient
from docker.models.containers import Container

from registry.deployments.docker_image import ensure_runtime_image

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "greenlang.namespace"
SESSION = f"t{os.getpid()}"


def _connect() -> DockerClient:
    client = docker.from_env(version="auto", timeout=120)
    client.ping()
    return client


@functools.cache
def engine() -> DockerClient:
    """A client of the running engine, started by .ci/docker-engine.sh when none answers."""
    try:
        return _connect()
    except docker.errors.DockerException:
        pass
    started = subprocess.run(
        ["bash", str(ROOT / ".ci" / "docker-engine.sh")], capture_output=True, text=True
    )
    if started.returncode != 0:
        pytest.fail(f"no Docker engine: .ci/docker-engine.sh failed:\n{started.stderr[-2000:]}")
    return _connect()


@functools.cache
def runtime_image() -> str:
    """This tree's runtime image (built once per test process when the tree changed)."""
    return ensure_runtime_image(engine())


def namespace(home: Path) -> str:
    """The deployer namespace of one test's home dir, inside this session's."""
    return f"{SESSION}-{hashlib.sha256(str(home).encode()).hexdigest()[:8]}"


def containers(ns: str | None = None) -> list[Container]:
    """Containers (running or not) of one namespace, or of every namespace of this session."""
    selector = f"{NAMESPACE}={ns}" if ns else NAMESPACE
    found = engine().containers.list(all=True, filters={"label": selector}, ignore_removed=True)
    return [c for c in found if c.labels[NAMESPACE].startswith(SESSION + "-")]


def remove_all(ns: str | None = None) -> None:
    for container in containers(ns):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerClient]:
    """The engine's client; at the end of the session no container of this session is left."""
    client = engine()
    yield client
    remove_all()


def cleanup_if_used() -> None:
    """For a session finaliser: remove this session's containers if any test used the engine."""
    if engine.cache_info().currsize:
        remove_all()
