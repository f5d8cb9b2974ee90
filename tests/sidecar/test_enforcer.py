"""The whole sidecar in process: real example agent, real bundle of the stock policies, embedded
engine; every refusal and pass-through path, with its audit event and metrics."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import psutil
import pytest
import structlog
from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult
from prometheus_client.parser import text_string_to_metric_families

from bundles.assemble import assemble
from bundles.compiler import compile_policies
from bundles.layout import STOCK_DATA_DIR, STOCK_POLICY_DIR
from bundles.signing import SigningConfig
from examples.cbam_agent.agent import create_app as create_agent_app
from kernel.logs import configure_logging
from sidecar.app import Listen, Sidecar
from sidecar.auth import SecretAuthenticator
from sidecar.call import Target
from sidecar.obligations import ObligationError, stock
from sidecar.policy_source import FileBundleSource
from sidecar.tracing import UNEXPORTED_SAMPLER, setup_tracing
from tests.support.servers import free_port

SECRET = b"s" * 48
AGENT = "gl-cbam-test"
FAR = 4_102_444_800_000_000_000  # 2100-01-01 in ns
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CALC_BODY = {
    "goods": [{"cn_code": "72081000", "quantity_tonnes": 10, "country_of_origin": "CN"}],
    "declarant": {"name": "Acme", "email": "ops@acme.example", "iban": "DE89370400440532013000"},
}


def catalog(status: str = "ACTIVE", certified: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"owner_team": "cbam", "version": "1.0.0", "status": status}
    if certified:
        entry |= {"certificate_id": "cert-1", "certificate_expires_at": FAR}
    return {AGENT: entry}


def write_bundle(
    tmp: Path,
    cat: dict[str, Any],
    data: dict[str, Any] | None = None,
    signing: SigningConfig | None = None,
) -> Path:
    """The stock bundle with this catalog; ``data`` merges into data files by path."""
    data_dir = tmp / f"data-{time.monotonic_ns()}"
    shutil.copytree(STOCK_DATA_DIR, data_dir)
    for rel, patch in (data or {}).items():
        file = data_dir / rel / "data.json"
        file.write_text(json.dumps(json.loads(file.read_text()) | patch))
    built = assemble(
        compile_policies([STOCK_POLICY_DIR]), catalog=cat, data_dirs=[data_dir], signing=signing
    )
    out = tmp / f"bundle-{time.monotonic_ns()}.tar.gz"
    out.write_bytes(built.content)
    return out


def token(sub: str = "carla", roles: tuple[str, ...] = ("operator",), **claims: Any) -> str:
    body = {"sub": sub, "roles": list(roles), "team": "cbam", "exp": int(time.time()) + 600}
    return jwt.encode(body | claims, SECRET, algorithm="HS256")


class ListSink:
    """Audit events kept in memory: the sink port's simplest adapter."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.full = False

    def accepting(self) -> bool:
        return not self.full

    def record(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def pending(self) -> int:
        return 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class Harness:
    def __init__(self, sidecar: Sidecar, sink: ListSink) -> None:
        self.sidecar, self.sink = sidecar, sink
        self.url = f"http://127.0.0.1:{sidecar.listen.port}"
        self.admin = f"http://127.0.0.1:{sidecar.admin_listen.port}"
        self.http = aiohttp.ClientSession(auto_decompress=False)

    async def call(
        self, method: str, path: str, *, auth: str | None = "default", **kw: Any
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        headers = dict(kw.pop("headers", {}))
        if auth is not None:
            headers["Authorization"] = f"Bearer {token() if auth == 'default' else auth}"
        async with self.http.request(method, self.url + path, headers=headers, **kw) as resp:
            return resp, await resp.read()

    async def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        async with self.http.get(self.admin + "/metrics") as resp:
            text = await resp.text()
        return [
            (s.name, s.labels, s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]


def sample(metrics: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The value of the one sample ``name`` whose labels include ``labels``."""
    [value] = [v for n, ls, v in metrics if n == name and labels.items() <= ls.items()]
    return value


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def agent_url() -> AsyncIterator[str]:
    async with serving(create_agent_app()) as url:
        yield url


MakeSidecar = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_sidecar(agent_url: str, tmp_path: Path) -> AsyncIterator[MakeSidecar]:
    made: list[Harness] = []

    async def make(
        cat: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        *,
        upstream: str | None = None,
        bundle: Path | None = None,
        fail_open: bool = False,
        tracer_provider: TracerProvider | None = None,
        **extra: Any,
    ) -> Harness:
        path = bundle or write_bundle(tmp_path, catalog() if cat is None else cat, data)
        sink = ListSink()
        sidecar = Sidecar(
            target=Target(AGENT, None, "production", "test-sidecar"),
            upstream=upstream or agent_url,
            listen=Listen("127.0.0.1", free_port()),
            admin_listen=Listen("127.0.0.1", free_port()),
            source=FileBundleSource(path),
            authenticator=SecretAuthenticator(SECRET),
            sink=sink,
            fail_open=fail_open,
            tracer_provider=tracer_provider,
            **extra,
        )
        await sidecar.start()
        harness = Harness(sidecar, sink)
        made.append(harness)
        return harness

    yield make
    for h in made:
        await h.http.close()
        await h.sidecar.stop()


async def test_allowed_call_passes_byte_for_byte(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value
    resp, body = await h.call(
        "POST", "/v1/echo?x=%2F1", data=payload, headers={"Content-Type": "application/x-bin"}
    )
    assert resp.status == 200
    assert body == payload
    assert resp.headers["Content-Type"] == "application/x-bin"
    assert resp.headers["X-Request-Id"]
    [event] = h.sink.events
    assert event["decision"] == "allow" and event["status"] == 200
    assert event["user_id"] == "carla" and event["agent_id"] == AGENT
    assert event["version"] == "1.0.0"  # no --agent-version: the catalog's serving version
    assert event["request_id"] == resp.headers["X-Request-Id"]


async def test_trace_continues_to_the_agent(make_sidecar: MakeSidecar, agent_url: str) -> None:
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/t", record)
    async with serving(app) as url:
        h = await make_sidecar(upstream=url)
        resp, _ = await h.call("GET", "/t", headers={"traceparent": TRACEPARENT})
        assert resp.status == 200
    _version, trace_id, parent, _flags = seen[0].split("-")
    assert trace_id == TRACEPARENT.split("-")[1]  # same trace
    assert parent != TRACEPARENT.split("-")[2]  # a child span of the sidecar's
    assert h.sink.events[0]["trace_id"] == trace_id


class CountingSampler(Sampler):
    """The sidecar's unexported sampler, counting the spans it is asked about."""

    def __init__(self) -> None:
        self.asked = 0

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        self.asked += 1
        return UNEXPORTED_SAMPLER.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "counting"


async def test_unrecorded_calls_make_one_span_and_pass_its_context_on(
    make_sidecar: MakeSidecar,
) -> None:
    sampler = CountingSampler()
    h = await make_sidecar(tracer_provider=setup_tracing(sampler=sampler))
    unsampled = TRACEPARENT.rsplit("-", 1)[0] + "-00"
    resp, _ = await h.call(
        "POST", "/v1/calculate", json=CALC_BODY, headers={"traceparent": unsampled}
    )
    assert resp.status == 200
    assert sampler.asked == 1  # no child spans (pre check, upstream, post check) under it
    assert h.sink.events[0]["trace_id"] == TRACEPARENT.split("-")[1]


@pytest.mark.parametrize(
    "auth",
    [None, "not-a-jwt", "expired", "wrong-secret", "no-sub"],
)
async def test_missing_or_invalid_token_is_401(make_sidecar: MakeSidecar, auth: str | None) -> None:
    h = await make_sidecar()
    value = {
        "expired": token(exp=int(time.time()) - 3600),
        "wrong-secret": jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, b"w" * 48, "HS256"),
        "no-sub": jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
    }.get(auth or "", auth)
    resp, body = await h.call("GET", "/v1/factors", auth=value)
    assert resp.status == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(body)["type"].endswith("/unauthenticated")
    assert "Bearer" in resp.headers["WWW-Authenticate"]
    [event] = h.sink.events
    assert event["status"] == 401 and event["user_id"] is None


async def test_uncertified_agent_is_403_with_every_violation(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(catalog(status="DRAFT", certified=False))
    resp, body = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert resp.status == 403
    problem = json.loads(body)
    ids = {v["policy_id"] for v in problem["violations"]}
    assert {"pol-001-certification-required", "compliance-certified-active"} <= ids
    assert h.sink.events[0]["decision"] == "deny"
    assert {v["policy_id"] for v in h.sink.events[0]["violations"]} == ids
    metrics = await h.metrics()
    name, policy = "governance_violations_total", "compliance-certified-active"
    found = sum(1 for v in problem["violations"] if v["policy_id"] == policy)
    assert sample(metrics, name, policy_id=policy, type="compliance") == found >= 1


async def test_user_outside_team_without_role_is_403(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    outsider = token(sub="eve", roles=(), team="csrd")
    resp, body = await h.call("GET", "/v1/factors", auth=outsider)
    assert resp.status == 403
    assert "rbac-access-control" in {v["policy_id"] for v in json.loads(body)["violations"]}


async def test_rate_limit_is_429_with_retry_after(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data={"greenlang/rate_limits": {"agents": {AGENT: 3}}})
    statuses = [(await h.call("GET", "/v1/factors"))[0].status for _ in range(5)]
    assert statuses[:3] == [200, 200, 200]
    resp, body = await h.call("GET", "/v1/factors")
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert json.loads(body)["violations"][0]["policy_id"] == "rate-limit"
    other, _ = await h.call("GET", "/v1/factors", auth=token(sub="olga"))
    assert other.status == 200  # the rate is per caller


async def test_concurrent_calls_cannot_overrun_the_rate_limit(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data={"greenlang/rate_limits": {"agents": {AGENT: 3}}})
    results = await asyncio.gather(*(h.call("GET", "/v1/factors") for _ in range(10)))
    statuses = sorted(r.status for r, _ in results)
    assert statuses == [200] * 3 + [429] * 7


async def test_warning_passes_with_header(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(catalog(status="DEPRECATED"))
    resp, _ = await h.call("GET", "/v1/factors")
    assert resp.status == 200
    warnings = resp.headers.getall("X-Governance-Warning")
    assert any(w.startswith("compliance-deprecated-warn: ") for w in warnings)
    assert h.sink.events[0]["decision"] == "warn"


async def test_email_and_iban_are_masked_by_default(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    resp, body = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert resp.status == 200
    text = body.decode()
    assert "ops@acme.example" not in text and "DE89370400440532013000" not in text
    doc = json.loads(body)
    assert doc["declarant"]["name"] == "Acme"
    assert "REDACTED" in doc["declarant"]["email"] and "REDACTED" in doc["declarant"]["iban"]
    assert int(resp.headers["Content-Length"]) == len(body)


async def test_agent_data_can_turn_masking_off(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data={"greenlang/sidecar": {"agents": {AGENT: {"mask": []}}}})
    _, body = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert json.loads(body)["declarant"]["email"] == "ops@acme.example"


async def test_gzip_json_is_masked_after_decoding(make_sidecar: MakeSidecar) -> None:
    doc = {"contact": "ops@acme.example", "note": "x" * 100}
    app = web.Application()

    async def gz(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(json.dumps(doc).encode()),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    app.router.add_get("/gz", gz)
    async with serving(app) as url:
        h = await make_sidecar(upstream=url)
        resp, body = await h.call("GET", "/gz")
    assert "Content-Encoding" not in resp.headers
    assert json.loads(body)["contact"] != "ops@acme.example"


async def test_token_limit_denies_after_execution(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data={"greenlang/sidecar": {"agents": {AGENT: {"max_tokens": 10}}}})
    resp, body = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert resp.status == 403
    assert "token-limit" in {v["policy_id"] for v in json.loads(body)["violations"]}
    [event] = h.sink.events
    assert event["tokens"]["total"] > 10  # the audit keeps the real figure
    metrics = await h.metrics()
    tokens = [v for name, _, v in metrics if name == "agent_tokens_used_total"]
    assert tokens == [event["tokens"]["total"]]


async def test_tokens_from_header_on_a_stream(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    resp, body = await h.call("GET", "/v1/stream?events=3&delay_ms=1")
    assert resp.status == 200
    assert body.count(b"data:") >= 3
    assert h.sink.events[0]["tokens"]["total"] == int(resp.headers["X-Tokens-Used"])


async def test_no_decision_fails_closed(make_sidecar: MakeSidecar, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a bundle")
    h = await make_sidecar(bundle=broken)
    resp, body = await h.call("GET", "/v1/factors")
    assert resp.status == 503
    assert json.loads(body)["type"].endswith("/decision-unavailable")
    assert h.sink.events[0]["decision"] == "error"
    async with h.http.get(h.admin + "/readyz") as ready:
        assert ready.status == 503


async def test_fail_open_forwards_and_audits(make_sidecar: MakeSidecar, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a bundle")
    h = await make_sidecar(bundle=broken, fail_open=True)
    resp, _ = await h.call("GET", "/v1/factors")
    assert resp.status == 200
    assert h.sink.events[0]["decision"] == "fail_open"


async def test_full_audit_spool_refuses_calls(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    h.sink.full = True
    resp, body = await h.call("GET", "/v1/factors")
    assert resp.status == 503
    assert json.loads(body)["type"].endswith("/audit-unavailable")


async def test_request_cap_from_policy_data(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(
        data={"greenlang/sidecar": {"agents": {AGENT: {"max_request_bytes": 1000}}}}
    )
    resp, _ = await h.call("POST", "/v1/echo", data=b"x" * 1001)
    assert resp.status == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 500

    resp, _ = await h.call("POST", "/v1/echo", data=chunks())
    assert resp.status == 413
    ok, body = await h.call("POST", "/v1/echo", data=b"z" * 1000)
    assert ok.status == 200 and body == b"z" * 1000


async def test_response_cap_from_policy_data(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(
        data={"greenlang/sidecar": {"agents": {AGENT: {"max_response_bytes": 200}}}}
    )
    resp, body = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert resp.status == 502
    assert json.loads(body)["type"].endswith("/response-too-large")


async def test_agent_timeout_from_policy_data(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data={"greenlang/sidecar": {"agents": {AGENT: {"timeout_s": 0.2}}}})
    auth = {"Authorization": f"Bearer {token()}"}
    # Headers come at once, then the stream stalls past the read timeout and is cut off: the
    # caller sees a truncated body, never a silently complete one.
    async with h.http.get(h.url + "/v1/stream?events=2&delay_ms=1000", headers=auth) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    await asyncio.sleep(0.1)
    assert h.sink.events[0]["latency_ms"] < 1000


async def test_upstream_down_is_502_and_counted(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(upstream=f"http://127.0.0.1:{free_port()}")
    resp, _ = await h.call("GET", "/v1/factors")
    assert resp.status == 502
    metrics = await h.metrics()
    assert sample(metrics, "agent_errors_total", agent_id=AGENT, type="upstream_unreachable") == 1


async def test_metrics_count_calls_by_outcome(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    for _ in range(3):
        await h.call("GET", "/v1/factors")
    await h.call("GET", "/v1/factors", auth=None)
    m = await h.metrics()
    ok = sample(m, "agent_invocations_total", agent_id=AGENT, status="success", version="1.0.0")
    assert ok == 3
    assert sample(m, "agent_invocations_total", agent_id=AGENT, status="unauthenticated") == 1
    assert sample(m, "agent_invocation_duration_seconds_count", agent_id=AGENT) == 4
    assert sample(m, "agent_concurrent_executions", agent_id=AGENT) == 0
    assert sample(m, "sidecar_overhead_seconds_count", phase="pre") == 3


async def test_concurrent_calls_are_each_audited_once(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    results = await asyncio.gather(*(h.call("GET", "/v1/factors") for _ in range(50)))
    assert [r.status for r, _ in results] == [200] * 50
    assert len({e["event_id"] for e in h.sink.events}) == 50
    assert len({e["request_id"] for e in h.sink.events}) == 50


async def test_request_id_is_kept_when_plain_and_replaced_otherwise(
    make_sidecar: MakeSidecar,
) -> None:
    h = await make_sidecar()
    kept, _ = await h.call("GET", "/v1/factors", headers={"X-Request-Id": "abc-123.x:y"})
    assert kept.headers["X-Request-Id"] == "abc-123.x:y"
    odd, _ = await h.call("GET", "/v1/factors", headers={"X-Request-Id": 'a b"<script>' * 20})
    assert odd.headers["X-Request-Id"] != 'a b"<script>' * 20
    assert [e["request_id"] for e in h.sink.events] == ["abc-123.x:y", odd.headers["X-Request-Id"]]


async def test_one_span_per_call_with_phase_children(make_sidecar: MakeSidecar) -> None:
    spans = InMemorySpanExporter()
    h = await make_sidecar(tracer_provider=setup_tracing(exporter=spans))
    resp, _ = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert resp.status == 200
    by_name = {s.name: s for s in spans.get_finished_spans()}
    root = by_name["sidecar.invoke"]
    for child in ("governance.pre_check", "upstream", "governance.post_check"):
        assert by_name[child].parent is not None
        assert by_name[child].parent.span_id == root.context.span_id
    attrs = dict(root.attributes or {})
    assert attrs["agent.id"] == AGENT and attrs["http.response.status_code"] == 200
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["governance.decision"] == "allow"
    assert h.sink.events[0]["trace_id"] == format(root.context.trace_id, "032x")


async def test_large_bodies_stream_through_the_whole_pipeline(make_sidecar: MakeSidecar) -> None:
    limit = {"max_request_bytes": 2**31, "max_response_bytes": 2**31}
    h = await make_sidecar(data={"greenlang/sidecar": {"agents": {AGENT: limit}}})
    block, blocks = os.urandom(1024 * 1024), 200
    proc = psutil.Process()
    baseline = peak = proc.memory_info().rss

    async def body() -> AsyncIterator[bytes]:
        nonlocal peak
        for _ in range(blocks):
            peak = max(peak, proc.memory_info().rss)
            yield block

    sent, got = hashlib.sha256(), hashlib.sha256()
    for _ in range(blocks):
        sent.update(block)
    headers = {"Authorization": f"Bearer {token()}", "Content-Type": "application/octet-stream"}
    size = 0
    async with h.http.post(h.url + "/v1/echo", data=body(), headers=headers) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_chunked(1024 * 1024):
            got.update(chunk)
            size += len(chunk)
            peak = max(peak, proc.memory_info().rss)
    assert size == blocks * len(block) and got.digest() == sent.digest()
    # Sidecar, agent and client share this process: none of them held the body.
    assert peak - baseline < 64 * 1024 * 1024, f"RSS grew {(peak - baseline) / 2**20:.0f} MiB"


async def test_cached_decisions_are_per_caller_and_request(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar()
    outsider = token(sub="eve", roles=(), team="csrd")
    admin_path = "/admin/reset"
    assert (await h.call("GET", "/v1/factors"))[0].status == 200
    assert (await h.call("GET", "/v1/factors", auth=outsider))[0].status == 403
    assert (await h.call("GET", admin_path))[0].status == 403  # access-admin-paths
    assert (await h.call("GET", "/v1/factors"))[0].status == 200
    admin = token(sub="ada", roles=("admin",))
    assert (await h.call("GET", admin_path, auth=admin))[0].status == 404  # the agent's answer
    cache = h.sidecar.enforcer.cache
    assert cache.hits >= 1 and cache.misses >= 4


def test_warning_text_is_a_safe_header_value() -> None:
    from sidecar.enforcer import _header_text

    assert _header_text("rate-limit: close") == "rate-limit: close"
    odd = _header_text("p: déjà\r\nX-Injected: 1")
    assert odd.isascii() and "\r" not in odd and "\n" not in odd and "d\\xe9j\\xe0" in odd


async def test_rate_verdict_is_reused_within_a_rate_band(make_sidecar: MakeSidecar) -> None:
    """Calls 1..20 of one caller stay below the 80% warning of the stock limit (3000/min for
    operators): one rate band, so after the first call every query is answered from the cache."""
    h = await make_sidecar()
    for _ in range(20):
        assert (await h.call("GET", "/v1/factors"))[0].status == 200
    cache = h.sidecar.enforcer.cache
    assert cache.misses == 3  # the first call: the rest, the rate bands, the band's verdict
    assert cache.hits == 3 * 19


async def test_rate_bands_change_the_verdict_at_the_limit(make_sidecar: MakeSidecar) -> None:
    h = await make_sidecar(data={"greenlang/rate_limits": {"agents": {AGENT: 10}}})
    statuses = [(await h.call("GET", "/v1/factors"))[0] for _ in range(12)]
    assert [r.status for r in statuses] == [200] * 10 + [429] * 2
    warned = [bool(r.headers.getall("X-Governance-Warning", [])) for r in statuses[:10]]
    assert warned == [False] * 8 + [True] * 2  # counts 8 and 9 of 10: from 80%


def sse_agent(*, gzip_body: bool = False, line: bytes | None = None) -> web.Application:
    """An LLM-style agent streaming server-sent events, lines split across writes."""

    async def stream(request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream"}
        if gzip_body:
            headers["Content-Encoding"] = "gzip"
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        events = [
            b'data: {"choices": [{"delta": {"content": "write to ops@acme.example"}}]}\n\n',
            line or b"data: not json ops@acme.example\n\n",
            b'data: {"usage": {"prompt_tokens": 11, "completion_tokens": 31}}\n\n',
            b"data: [DONE]\n\n",
        ]
        body = b"".join(events)
        if gzip_body:
            body = gzip.compress(body)
        for i in range(0, len(body), 7):
            await resp.write(body[i : i + 7])
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/v1/chat", stream)
    return app


async def test_event_streams_are_masked_and_their_usage_audited(
    make_sidecar: MakeSidecar,
) -> None:
    async with serving(sse_agent()) as url:
        h = await make_sidecar(upstream=url)
        resp, body = await h.call("GET", "/v1/chat")
    assert resp.status == 200 and resp.headers["Content-Type"] == "text/event-stream"
    assert b"ops@acme.example" not in body.split(b"\n\n")[0]
    assert b'"write to [REDACTED:email]"' in body
    assert b"data: not json ops@acme.example\n" in body  # only JSON string values are masked
    assert body.endswith(b"data: [DONE]\n\n")
    tokens = h.sink.events[0]["tokens"]
    assert (tokens["total"], tokens["prompt"], tokens["completion"]) == (42, 11, 31)


async def test_an_event_stream_line_too_long_to_inspect_is_cut_off(
    make_sidecar: MakeSidecar,
) -> None:
    huge = b'data: {"text": "' + b"x" * (2 * 1024 * 1024) + b'"}\n\n'
    async with serving(sse_agent(line=huge)) as url:
        h = await make_sidecar(upstream=url)
        with pytest.raises(aiohttp.ClientPayloadError):
            await h.call("GET", "/v1/chat")


async def test_a_compressed_event_stream_with_masks_is_refused(make_sidecar: MakeSidecar) -> None:
    async with serving(sse_agent(gzip_body=True)) as url:
        h = await make_sidecar(upstream=url)
        resp, body = await h.call("GET", "/v1/chat")
    assert resp.status == 502
    assert json.loads(body)["type"].endswith("/response-uninspectable")


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    configure_logging("info", component="sidecar")
    capsys.readouterr()

    def read() -> list[dict[str, Any]]:
        out = capsys.readouterr().out.splitlines()
        return [json.loads(x) for x in out if x.startswith("{")]

    yield read
    structlog.reset_defaults()
    for h in [h for h in logging.getLogger().handlers if type(h).__name__ == "_StdoutHandler"]:
        logging.getLogger().removeHandler(h)


async def test_sampled_calls_log_masked_bodies(
    make_sidecar: MakeSidecar, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    h = await make_sidecar(log_sample_rate=1.0)
    resp, _ = await h.call("POST", "/v1/calculate", json=CALC_BODY)
    assert resp.status == 200
    [sample] = [x for x in json_logs() if x["event"] == "io_sample"]
    assert sample["component"] == "sidecar" and sample["agent_id"] == AGENT
    assert sample["request_id"] == resp.headers["X-Request-Id"] and len(sample["trace_id"]) == 32
    assert sample["version"] == "1.0.0" and sample["status"] == 200
    assert sample["method"] == "POST" and sample["path"] == "/v1/calculate" and sample["masked"]
    text = json.dumps(sample)
    assert "ops@acme.example" not in text and "DE89370400440532013000" not in text
    request = json.loads(sample["request_body"])
    assert request["declarant"]["name"] == "Acme" and "REDACTED" in request["declarant"]["email"]
    assert "REDACTED" in json.loads(sample["response_body"])["declarant"]["iban"]


async def test_unmasked_policy_logs_plain_bodies_and_rate_zero_logs_none(
    make_sidecar: MakeSidecar, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    plain = {"greenlang/sidecar": {"agents": {AGENT: {"mask": []}}}}
    h = await make_sidecar(data=plain, log_sample_rate=1.0, log_sample_bytes=64)
    await h.call("POST", "/v1/calculate", json=CALC_BODY)
    [sample] = [x for x in json_logs() if x["event"] == "io_sample"]
    assert not sample["masked"] and sample["request_truncated"]
    assert len(sample["request_body"]) == 64 and sample["request_body"].startswith('{"goods"')
    off = await make_sidecar()  # default rate 0
    await off.call("POST", "/v1/calculate", json=CALC_BODY)
    assert not [x for x in json_logs() if x["event"] == "io_sample"]


async def test_obligations_are_validated_once_and_read_again_when_they_change(
    make_sidecar: MakeSidecar,
) -> None:
    enforcer = (await make_sidecar()).sidecar.enforcer
    five = enforcer._obligations_of({"obligations": {"timeout_s": 5}})
    again = enforcer._obligations_of({"obligations": {"timeout_s": 5}})  # equal, not the same
    seven = enforcer._obligations_of({"obligations": {"timeout_s": 7}})
    assert again is five and five.timeout_s == 5 and seven.timeout_s == 7
    assert enforcer._obligations_of({"obligations": {"timeout_s": 5}}).timeout_s == 5
    assert enforcer._obligations_of({}) == stock()
    with pytest.raises(ObligationError):
        enforcer._obligations_of({"obligations": {"timeout_s": "soon"}})
