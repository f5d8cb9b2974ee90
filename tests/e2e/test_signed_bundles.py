"""Signed bundles end to end: a real `greenlang-registry serve` signs every bundle it serves with
a key it made in its data dir (kept across restarts), `opa` verifies them with the public key
from the public route, and a production sidecar refuses a bundle changed on the way (a proxy
that flips one byte of one file): the metric counts it and the last good bundle stays."""

from __future__ import annotations

import http.server
import re
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bundles.assemble import assemble
from bundles.bundle import pack_files, read_bundle_files
from bundles.compiler import compile_policies
from bundles.layout import STOCK_POLICY_DIR
from tests.e2e.stack import (
    CALC,
    AgentProcess,
    RegistryClient,
    RegistryProcess,
    SidecarProcess,
    caller_token,
    opa_polling,
)
from tests.support.polling import wait_until
from tests.support.servers import find_binary

AGENT = "gl-cbam-embedded-emissions"
REPO = Path(__file__).resolve().parents[2]


def flip_a_byte(archive: bytes) -> bytes:
    """The bundle with one byte of one policy file changed, its signature left as it was."""
    files = read_bundle_files(archive)
    name = next(n for n in sorted(files) if n.endswith(".rego"))
    content = bytearray(files[name])
    content[len(content) // 2] ^= 0x01
    files[name] = bytes(content)
    return pack_files(files)


def opa_verifies(bundle: bytes, key: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    path = workdir / "bundle.tar.gz"
    path.write_bytes(bundle)
    return subprocess.run(
        [
            *(find_binary("opa"), "build", "--bundle", str(path), "--verification-key", str(key)),
            *("--verification-key-id", "greenlang", "-o", str(workdir / "out.tar.gz")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TamperingProxy:
    """Forwards GETs to the registry; while ``tamper`` is set, flips a byte of each bundle."""

    def __init__(self, upstream: str) -> None:
        self.tamper = False
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                r = httpx.get(upstream + self.path, headers=headers, timeout=30)
                body = (
                    flip_a_byte(r.content) if proxy.tamper and r.status_code == 200 else r.content
                )
                self.send_response(r.status_code)
                for name in ("ETag", "Content-Type"):
                    if name in r.headers:
                        self.send_header(name, r.headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[RegistryProcess]:
    with RegistryProcess(tmp_path / "registry", database_url) as process:
        yield process


@dataclass
class Tampered:
    """The registry with AGENT certified, and a proxy in front of it that can tamper."""

    admin: RegistryClient
    proxy: TamperingProxy

    def tamper_with_a_new_revision(self) -> None:
        self.proxy.tamper = True
        self.admin.register("gl-second-agent", certified=False)  # a new revision to fetch


@pytest.fixture
def tampered(registry: RegistryProcess) -> Iterator[Tampered]:
    admin = RegistryClient(registry.url, registry.token("admin"))
    admin.register(AGENT, certified=True)
    proxy = TamperingProxy(registry.url)
    yield Tampered(admin, proxy)
    proxy.close()


def test_served_bundles_are_signed_and_opa_verifies_them(
    registry: RegistryProcess, tmp_path: Path
) -> None:
    key_file = registry.workdir / "data" / "bundle-signing.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = registry.verification_key()  # the public route, no token
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    admin = RegistryClient(registry.url, registry.token("admin"))

    served = admin.http.get("/api/v1/bundles/greenlang")
    assert served.status_code == 200
    assert ".signatures.json" in read_bundle_files(served.content)
    done = opa_verifies(served.content, public, tmp_path)
    assert done.returncode == 0, done.stderr
    done = opa_verifies(flip_a_byte(served.content), public, tmp_path)
    assert done.returncode != 0 and "digest mismatch" in done.stderr + done.stdout

    # a published bundle (unsigned here) is served signed with the registry's key too
    unsigned = assemble(compile_policies([STOCK_POLICY_DIR])).content
    put = admin.http.put(
        "/api/v1/bundles/ci", content=unsigned, headers={"Content-Type": "application/gzip"}
    )
    assert put.status_code == 201, put.text
    published = admin.http.get("/api/v1/bundles/ci")
    assert opa_verifies(published.content, public, tmp_path).returncode == 0

    # the key outlives a restart: sidecars and OPAs keep verifying
    registry.close()
    registry.start()
    assert httpx.get(registry.url + "/bundle-verification-key").content == public.read_bytes()


def refusals(sidecar: SidecarProcess) -> float:
    text = httpx.get(f"http://127.0.0.1:{sidecar.port}/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "sidecar_bundle_verification_failures":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError("sidecar_bundle_verification_failures_total is not exported")


def decide(sidecar: SidecarProcess) -> int:
    """A governed call through the sidecar: its status."""
    headers = {"Authorization": f"Bearer {caller_token()}"}
    url = sidecar.proxy_url + "/v1/calculate"
    return httpx.post(url, json=CALC, headers=headers, timeout=30).status_code


def revision(sidecar: SidecarProcess) -> str:
    body = httpx.get(f"http://127.0.0.1:{sidecar.port}/readyz").json()
    return str(body["revision"])


async def test_a_tampered_bundle_is_refused_counted_and_the_last_good_one_stays(
    registry: RegistryProcess, tampered: Tampered, tmp_path: Path
) -> None:
    args = ["--agent-id", AGENT, "--bundle", f"{tampered.proxy.url}/api/v1/bundles/greenlang"]
    args += ["--poll-interval", "0.2", "--environment", "production"]
    args += ["--verification-key", str(registry.verification_key())]
    with (
        AgentProcess(tmp_path / "agent") as agent,
        SidecarProcess(
            tmp_path / "sc", [*args, "--upstream", agent.url], token=registry.token("service")
        ) as sidecar,
    ):
        assert decide(sidecar) == 200
        good = revision(sidecar)
        assert refusals(sidecar) == 0

        tampered.tamper_with_a_new_revision()

        async def refused() -> bool:
            return refusals(sidecar) >= 1

        async def renewed() -> bool:
            return revision(sidecar) != good

        await wait_until(refused, what="a refused bundle")
        assert revision(sidecar) == good  # the last good bundle stays in force
        assert decide(sidecar) == 200
        log = sidecar.log()
        assert "bundle_verification_failed" in log and "digest mismatch" in log

        tampered.proxy.tamper = False
        await wait_until(renewed, what="the new revision")
        assert decide(sidecar) == 200


def rejected_message_regex() -> str:
    """The `message` matcher of the GreenLangOpaBundleRejected alert (PromQL regexes are
    anchored: hence fullmatch)."""
    rules = yaml.safe_load((REPO / "deploy/prometheus/rules/alerts.yml").read_text())
    [expr] = [
        r["expr"]
        for g in rules["groups"]
        for r in g["rules"]
        if r.get("alert") == "GreenLangOpaBundleRejected"
    ]
    found = re.search(r'message=~"([^"]+)"', expr)
    assert found, expr
    return found.group(1)


def opa_bundles_health(opa_url: str) -> int:
    return httpx.get(opa_url + "/health?bundles", timeout=10).status_code


def opa_failed_loads(opa_url: str) -> list[dict[str, str]]:
    """The label sets of OPA's bundle_failed_load_counter samples (its status metrics)."""
    text = httpx.get(opa_url + "/metrics", timeout=10).text
    return [
        s.labels
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith("bundle_failed_load_counter") and s.value > 0
    ]


async def test_opa_refuses_a_tampered_bundle_and_its_metric_names_the_signature(
    registry: RegistryProcess, tampered: Tampered, tmp_path: Path
) -> None:
    """What GreenLangOpaBundleRejected (deploy/prometheus/rules/alerts.yml) matches on."""
    via = tampered.proxy.url
    with opa_polling(tmp_path / "opa", registry, registry.token("service"), via=via) as opa:
        assert opa_failed_loads(opa.url) == []
        tampered.tamper_with_a_new_revision()

        async def rejected() -> list[dict[str, str]] | None:
            return opa_failed_loads(opa.url) or None

        [labels] = await wait_until(rejected, what="OPA to count a refused bundle")
        assert labels["name"] == "greenlang"
        assert re.fullmatch(rejected_message_regex(), labels["message"]), labels
        assert opa_bundles_health(opa.url) == 200  # the last good bundle stays active
