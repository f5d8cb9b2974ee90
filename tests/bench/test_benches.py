"""The benches cannot rot silently: every bench module imports and parses its arguments, and
the shared load generator runs its smallest configurations against a real local server. (The
benches' own smoke runs take longer than a test should: `python bench/registry_bench.py
--quick` is under a minute.)"""

from __future__ import annotations

import asyncio
import importlib
import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bench.loadgen import CpuMeter, LoadResult, LoadSpec, nearest_rank, run_load
from tests.support.servers import free_port

BENCHES = ["intake_bench", "policy_bench", "registry_bench", "scale_bench", "sidecar_bench"]
SUPPORT = [
    "loadgen",
    "registry_dataset",
    "registry_phases",
    "registry_report",
    "registry_setup",
    "scale_fleet",
]


@pytest.mark.parametrize("name", BENCHES + SUPPORT)
def test_bench_module_imports(name: str) -> None:
    importlib.import_module(f"bench.{name}")


@pytest.mark.parametrize("name", BENCHES)
def test_bench_parses_its_defaults(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.parse_args([]) is not None
    with pytest.raises(SystemExit) as caught:
        module.parse_args(["--help"])
    assert caught.value.code == 0


def test_registry_bench_quick_is_small_and_explicit_flags_win() -> None:
    from bench import registry_bench

    quick = registry_bench.parse_args(["--quick"])
    assert quick.agents == 200 and quick.requests == 200 and quick.breakdown_reps == 3
    assert registry_bench.parse_args(["--quick", "--agents", "500"]).agents == 500


def test_nearest_rank_is_the_one_percentile() -> None:
    ordered = [float(x) for x in range(1, 11)]
    assert nearest_rank(ordered, 0.5) == 6.0
    assert nearest_rank(ordered, 0.99) == 10.0
    assert nearest_rank(ordered, 0.0) == 1.0
    assert math.isnan(nearest_rank([], 0.5))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A local aiohttp server in a thread: 200 on /ok/<n>, 500 on /fail."""
    port = free_port()
    loop = asyncio.new_event_loop()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_get("/ok/{n}", ok)
    app.router.add_get("/fail", fail)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()


def test_timed_closed_loop(server: str) -> None:
    spec = LoadSpec(url=server + "/ok/1", concurrency=2, processes=1, duration=0.5, warmup=0.1)
    result = run_load(spec)
    assert result.count > 0 and result.failed == 0
    assert result.duration == 0.5 and result.p50 <= result.p99


def test_timed_load_takes_its_targets_in_turn(server: str) -> None:
    targets = ((server + "/ok/1", None), (server + "/fail", None))
    spec = LoadSpec(url="", targets=targets, concurrency=1, duration=0.5, warmup=0.1)
    result = run_load(spec)
    assert result.statuses[200] > 0 and result.statuses[500] > 0
    assert abs(result.statuses[200] - result.statuses[500]) <= 1  # one client alternates


@pytest.mark.parametrize("rate", [0.0, 50.0])
def test_request_list_sends_each_path_once(server: str, rate: float) -> None:
    paths = (*(f"/ok/{i}" for i in range(20)), "/fail")
    spec = LoadSpec(url=server, paths=paths, concurrency=4, processes=2, duration=30, rate=rate)
    result = run_load(spec)
    assert result.count == 20 and result.statuses == {200: 20, 500: 1} and result.failed == 1


def test_cpu_meter_counts_this_process() -> None:
    meter = CpuMeter({}, own="bench")
    meter.start()
    sum(i * i for i in range(200_000))
    assert meter.stop()["bench"] > 0


def test_sidecar_bench_nginx_target_proxies_to_the_agent(tmp_path: Path) -> None:
    from bench import sidecar_bench as sb

    assert sb.nginx_binary() is not None, "nginx-light is installed by .ci/install.sh"
    with (
        sb.AgentProcess(tmp_path / "agent") as agent,
        sb.NginxProcess(tmp_path / "nginx", agent.url, "1") as nginx,
    ):
        body = sb.sample_body()
        json_type = [("Content-Type", "application/json")]
        assert sb.probe(nginx.proxy_url + "/v1/calculate", "POST", body, json_type) is None
        assert sb.probe(nginx.proxy_url + "/nope", "GET", None, []) is not None  # the agent's 404
        conf = (tmp_path / "nginx" / "nginx.conf").read_text()
        assert "worker_processes 1;" in conf and "keepalive 64;" in conf


def test_sidecar_bench_keeps_each_targets_best_round() -> None:
    from bench.sidecar_bench import Phase, best_phases

    def phase(clients: int, answered: int) -> Phase:
        return Phase(clients, LoadResult([0.001] * answered, 1.0))

    kept = best_phases([phase(32, 5), phase(1, 3), phase(32, 9), phase(1, 2), phase(32, 7)])
    assert sorted((p.clients, p.result.count) for p in kept) == [(1, 3), (32, 9)]
