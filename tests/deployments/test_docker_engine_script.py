""".ci/docker-engine.sh is safe to run again: an engine that answers is left as it is."""

from __future__ import annotations

import subprocess

from docker import DockerClient

from tests.support.docker_engine import ROOT, docker_engine

__all__ = ["docker_engine"]


def test_running_the_engine_script_again_keeps_the_engine_and_its_images(
    docker_engine: DockerClient,
) -> None:
    before = docker_engine.info()["ID"], docker_engine.images.get("greenlang-base:bookworm").id
    done = subprocess.run(
        ["bash", str(ROOT / ".ci" / "docker-engine.sh")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "starting dockerd" not in done.stderr and "debootstrap" not in done.stderr
    after = docker_engine.info()["ID"], docker_engine.images.get("greenlang-base:bookworm").id
    assert after == before
