"""The agent host in process (every answer of POST /v1/run) and as a real process (start-up
refusals, SIGTERM), over real example artifacts and small artifacts written per test."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent_sdk.artifact import ArtifactError, load_run
from agent_sdk.host import AgentHost
from tests.bundles.opa import wait_for
from tests.support.servers import free_port, reap, sigterm_exit_code

ROOT = Path(__file__).resolve().parents[2]
ESTIMATOR = ROOT / "examples" / "agents" / "cbam-certificate-cost-estimator" / "artifact.py"
PROBLEM = "application/problem+json"

Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


def artifact(tmp_path: Path, source: str, name: str = "artifact.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    made: list[tuple[Client, AgentHost]] = []

    async def make(run: Callable[[dict[str, Any]], Any], **kw: Any) -> Client:
        host = AgentHost(run, **kw)
        client: Client = TestClient(TestServer(host.app(), host="127.0.0.1", port=free_port()))
        await client.start_server()
        made.append((client, host))
        return client

    yield make
    for client, host in made:
        await client.close()
        host.close()


async def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    body: dict[str, Any] = await resp.json(content_type=PROBLEM)
    assert body["status"] == status and body["type"].startswith("https://greenlang.dev/problems/")
    return body


async def test_an_example_artifact_answers_its_json(make_client: MakeClient) -> None:
    client = await make_client(load_run(ESTIMATOR))
    health = await client.get("/healthz")
    assert health.status == 200
    resp = await client.post("/v1/run", json={"year": 2034, "embedded_emissions_tco2e": 10})
    assert resp.status == 200 and resp.content_type == "application/json"
    body = await resp.json()
    assert body["certificates"] == 10.0 and body["cbam_factor"] == 1.0


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'"text"', "got str"),
        (b'{"x": NaN}', "NaN is not a JSON number"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
async def test_bad_input_is_400(make_client: MakeClient, body: bytes, says: str) -> None:
    calls: list[dict[str, Any]] = []

    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        calls.append(inputs)
        return {}

    client = await make_client(run)
    resp = await client.post("/v1/run", data=body)
    assert says in (await problem(resp, 400))["detail"]
    assert calls == []


async def test_an_exception_is_a_500_without_its_message(make_client: MakeClient) -> None:
    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(f"secret {inputs['iban']}")

    client = await make_client(run)
    resp = await client.post("/v1/run", json={"iban": "DE89370400440532013000"})
    body = await problem(resp, 500)
    assert body["detail"] == "run() raised ValueError"
    assert "DE89" not in json.dumps(body)


@pytest.mark.parametrize(
    ("result", "says"),
    [([1, 2], "returned list, not a JSON object"), ({"x": {1, 2}}, "not JSON")],
)
async def test_a_result_that_is_not_a_json_object_is_a_500(
    make_client: MakeClient, result: Any, says: str
) -> None:
    client = await make_client(lambda inputs: result)
    resp = await client.post("/v1/run", json={})
    assert says in (await problem(resp, 500))["detail"]


async def test_a_stuck_run_is_a_504_and_the_host_keeps_serving(make_client: MakeClient) -> None:
    release = threading.Event()

    def run(inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("block"):
            release.wait(60)
        return {"ok": True}

    client = await make_client(run, timeout_s=0.3)
    try:
        resp = await client.post("/v1/run", json={"block": True})
        assert "did not answer within 0.3 s" in (await problem(resp, 504))["detail"]
        again = await client.post("/v1/run", json={})
        assert again.status == 200 and await again.json() == {"ok": True}
    finally:
        release.set()


async def test_unknown_routes_and_large_bodies_are_problems(make_client: MakeClient) -> None:
    client = await make_client(lambda inputs: {}, max_body_bytes=1024)
    await problem(await client.get("/v1/nothing"), 404)
    await problem(await client.get("/v1/run"), 405)
    await problem(await client.post("/v1/run", data=b"{" + b" " * 4096 + b"}"), 413)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("def run(:\n", "failed to import: SyntaxError"),
        ("raise RuntimeError('no model file')\n", "failed to import: RuntimeError: no model file"),
        ("import sys\nsys.exit(3)\n", "failed to import: SystemExit: 3"),
        ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
        ("def handle(inputs):\n    return {}\n", "defines no run(inputs) function"),
        ("run = 42\n", "defines no run(inputs) function"),
    ],
)
def test_an_artifact_that_cannot_be_served_is_refused(
    tmp_path: Path, source: str, says: str
) -> None:
    with pytest.raises(ArtifactError) as caught:
        load_run(artifact(tmp_path, source))
    assert says in str(caught.value) and "\n" not in str(caught.value)


def host_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "agent_sdk.host", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("source", "flags", "says"),
    [
        ("raise ImportError('numpy missing')\n", (), "failed to import: ImportError"),
        ("x = 1\n", (), "defines no run(inputs) function"),
        ("def run(i):\n    return i\n", ("--timeout", "0"), "--timeout"),
    ],
)
def test_the_host_refuses_to_start_with_one_line(
    tmp_path: Path, source: str, flags: tuple[str, ...], says: str
) -> None:
    path = artifact(tmp_path, source)
    proc = host_process("--artifact", str(path), "--port", str(free_port()), *flags)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0]


def get(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, None


@pytest.mark.parametrize("stuck", [False, True])
def test_a_real_host_serves_and_stops_on_sigterm(tmp_path: Path, stuck: bool) -> None:
    """Also with a run() stuck in a thread: SIGTERM still ends the process."""
    path = artifact(
        tmp_path,
        """
        import threading
        def run(inputs):
            if inputs.get("stuck"):
                threading.Event().wait()
            return {"echo": inputs}
        """,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = host_process("--artifact", str(path), "--port", str(port), "--timeout", "0.5")
    try:
        wait_for(lambda: proc.poll() is not None or get(url + "/healthz")[0] == 200)
        assert proc.poll() is None, proc.communicate()
        assert get(url + "/v1/run", {"a": 1}) == (200, {"echo": {"a": 1}})
        if stuck:
            assert get(url + "/v1/run", {"stuck": True})[0] == 504
        assert sigterm_exit_code(proc) == 0
    finally:
        reap(proc)


def test_agent_sdk_imports_nothing_of_the_services() -> None:
    code = (
        "import sys, agent_sdk.host\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'registry','sidecar','bundles'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"
