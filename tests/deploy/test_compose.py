"""deploy/compose/compose.yaml is what `docker compose` (the real plugin, built by .ci/install.sh)
accepts, runs the whole stack from public images, and mounts files that exist in this repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.dashboards import ROOT

COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
STACK = {
    "registry",
    "postgres",
    "minio",
    "opa",
    "agent",
    "sidecar",
    "prometheus",
    "alertmanager",
    "jaeger",
    "grafana",
}


def compose_config(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def resolved() -> dict[str, Any]:
    done = compose_config("--format", "yaml")
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_docker_compose_config_accepts_the_stack() -> None:
    config = resolved()
    assert STACK <= set(config["services"])
    for name, service in config["services"].items():
        assert "build" not in service, f"{name}: the stack runs public images only"
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"


def test_mounted_files_exist_in_the_repo() -> None:
    for name, service in resolved()["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] != "bind":
                continue
            source = Path(volume["source"]).resolve()
            rel = source.relative_to(ROOT).as_posix() if source != ROOT else "."
            assert source.exists(), f"{name} mounts {rel}, which is not in the repo"


def test_grafana_gets_the_dashboards_and_provisioning() -> None:
    grafana = resolved()["services"]["grafana"]
    binds = [v for v in grafana["volumes"] if v["type"] == "bind"]
    mounts = {Path(v["source"]).resolve(): v["target"] for v in binds}
    grafana_dir = ROOT / "deploy" / "grafana"
    assert mounts[grafana_dir / "provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((grafana_dir / "provisioning/dashboards/greenlang.yaml").read_text())
    assert mounts[grafana_dir / "dashboards"] == provider["providers"][0]["options"]["path"]


def test_a_broken_compose_file_is_refused(tmp_path: Path) -> None:
    """The check can fail: compose rejects a service with an unknown key."""
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["registry"]["imagee"] = "typo"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    done = subprocess.run(
        ["docker", "compose", "-f", str(path), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "imagee" in done.stderr
