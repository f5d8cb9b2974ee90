"""README's first command, as a user runs it: `greenlang-registry serve --seed examples/agents` on
embedded defaults, a token created while it runs, and the CLI against it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import stack
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "agents"


def registry_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return stack.registry_cli(env, *args)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = Path(tempfile.mkdtemp(prefix="gl-serve-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENLANG_")}
    env["GREENLANG_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "registry.cli.main",
            "serve",
            "--port",
            str(port),
            "--seed",
            str(EXAMPLES),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        for line in proc.stdout:
            if "seeded from" in line:  # a JSON log line
                break
            assert time.monotonic() < deadline, "serve did not finish seeding"
        else:
            pytest.fail(f"serve exited early with {proc.wait()}")
        yield f"http://127.0.0.1:{port}", env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_seeded_examples_are_searchable(served: tuple[str, dict[str, str]]) -> None:
    url, env = served
    created = registry_cli("token", "create", "--role", "viewer", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    env = {**env, "GREENLANG_REGISTRY_URL": url, "GREENLANG_TOKEN": token}

    listed = registry_cli("agent", "list", "--page-size", "100", "--output", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    specs = {p.parent.name for p in EXAMPLES.glob("*/agent.yaml")}
    assert body["total"] == len(specs) >= 50
    certified = {
        line.strip()
        for line in (EXAMPLES / "certified.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert body["facets"]["status"].get("active", 0) == len(certified)

    found = registry_cli("agent", "search", "cbam", "--scope", "CBAM", "--output", "json", env=env)
    agents = json.loads(found.stdout)["agents"]
    assert "gl-cbam-calculator-v2" in {a["agent_id"] for a in agents}

    r = httpx.get(
        f"{url}/api/v1/agents/gl-cbam-calculator-v2", headers={"Authorization": f"Bearer {token}"}
    )
    version = r.json()["versions"][0]
    art = httpx.get(
        f"{url}/api/v1/agents/gl-cbam-calculator-v2/versions/{version['version']}/artifact",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert art.status_code == 200 and art.headers["ETag"] == f'"{version["artifact_sha256"]}"'

    stock = list((ROOT / "bundles" / "policies").glob("*.yaml"))
    r = httpx.get(f"{url}/api/v1/policies", headers={"Authorization": f"Bearer {token}"})
    assert len(r.json()) == len(stock) > 0
    r = httpx.get(f"{url}/api/v1/bundles/greenlang", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.headers["ETag"]

    verify = registry_cli("audit", "verify", env=env)
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_a_second_serve_on_a_taken_port_says_so_in_one_line(
    served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = served
    port = url.rsplit(":", 1)[1]
    second = registry_cli("serve", "--port", port, env={**env, "GREENLANG_DATA_DIR": str(tmp_path)})
    assert second.returncode == 1, second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert f"cannot listen on 127.0.0.1:{port}: " in second.stderr
    assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # the first one still serves


def test_an_oversized_request_line_is_problem_json(served: tuple[str, dict[str, str]]) -> None:
    url, _ = served
    r = httpx.get(f"{url}/api/v1/agents", params={"q": "x" * 9000}, timeout=10)
    assert r.status_code == 414
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/uri-too-long")
