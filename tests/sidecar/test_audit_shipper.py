"""AuditShipper against a real HTTP server speaking the registry's audit intake contract.

The stand-in implements `POST /api/v1/audit` as the plan specifies it (bearer token, 1..500
events, idempotent by event_id, 200 {"stored", "duplicates"}); the end-to-end tests run the
shipper against the real registry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kernel.backoff import retry_delay
from sidecar.audit_shipper import AuditShipper
from sidecar.audit_spool import AuditSpool
from tests.support.servers import free_port

TOKEN = "test-token"
# How long to wait for something that must happen before calling it lost: never a measure of
# speed (no test asserts how long anything took), so generous enough for a busy machine. Where
# a timer could also make the awaited thing happen, that timer is set far beyond this.
GUARD_S = 60
NEVER_S = 3600  # an interval or backoff that no test outlives


@dataclass
class Intake:
    """The registry's audit intake: what it stored, in order, and what it was sent."""

    port: int
    mode: str = "ok"  # ok | unavailable | throttle | store_then_fail | unauthorized
    stored: list[str] = field(default_factory=list)
    stored_docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    received: int = 0  # events in all requests, resends included
    failures_left: int = 0  # for store_then_fail / throttle: how many requests to fail
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {TOKEN}" or self.mode == "unauthorized":
            return web.json_response({"title": "Unauthorized"}, status=401)
        if self.mode == "unavailable":
            return web.json_response({"title": "Service Unavailable"}, status=503)
        if self.mode == "throttle" and self.failures_left > 0:
            self.failures_left -= 1
            return web.json_response(
                {"title": "Too Many Requests"}, status=429, headers={"Retry-After": "0"}
            )
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"title": "request body is not JSON"}, status=400)
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not 1 <= len(events) <= 500:
            return web.json_response({"title": "events must be a list of 1..500"}, status=400)
        self.received += len(events)
        for e in events:  # the whole batch is validated before anything is stored
            if not isinstance(e, dict) or not isinstance(e.get("event_id"), str) or e.get("bad"):
                return web.json_response({"title": "invalid event", "event": e}, status=400)
        stored = duplicates = 0
        for e in events:
            if e["event_id"] in self.stored_docs:
                duplicates += 1
            else:
                self.stored_docs[e["event_id"]] = e
                self.stored.append(e["event_id"])
                stored += 1
        if self.mode == "store_then_fail" and self.failures_left > 0:
            self.failures_left -= 1  # stored, but the answer never reaches the sidecar
            return web.json_response({"title": "Bad Gateway"}, status=502)
        return web.json_response({"stored": stored, "duplicates": duplicates})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v1/audit", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def intake() -> AsyncIterator[Intake]:
    server = Intake(port=free_port())
    yield server
    await server.stop()


@pytest.fixture
async def shippers() -> AsyncIterator[list[AuditShipper]]:
    made: list[AuditShipper] = []
    yield made
    for s in made:
        await s.stop(drain_timeout_s=0.5)
        s.spool.close()


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": f"00000000-0000-4000-8000-{n:012d}", "n": n, **extra}


def ids(r: range | list[int]) -> list[str]:
    return [event(n)["event_id"] for n in r]


def segment_count(directory: Path) -> int:
    return len(list(directory.glob("segment-*.jsonl")))


def make(
    made: list[AuditShipper], directory: Path, url: str, *, segment_bytes: int = 4096, **kw: Any
) -> AuditShipper:
    spool = AuditSpool(directory, segment_bytes=segment_bytes, fsync=False)
    kw.setdefault("interval_s", 0.02)
    kw.setdefault("max_backoff_s", 0.1)
    shipper = AuditShipper(spool, url, TOKEN, **kw)
    made.append(shipper)
    return shipper


async def test_delivers_in_order_across_segments(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url, segment_bytes=1000, batch_size=37)
    for i in range(1000):
        shipper.submit(event(i))
    assert segment_count(tmp_path) > 20
    await shipper.start()
    assert await shipper.wait_delivered(1000, within_s=GUARD_S)
    assert intake.stored == ids(range(1000))
    assert intake.received == 1000  # none sent twice
    assert shipper.shipped == 1000 and shipper.duplicates == 0 and shipper.rejected == 0
    assert intake.stored_docs[ids([5])[0]] == event(5)  # the event arrives as it was appended
    assert shipper.spool.pending() == 0
    assert shipper.spool.size_bytes() == 0


async def test_registry_unreachable_then_back(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    shipper = make(shippers, tmp_path, intake.url, batch_size=50)
    await shipper.start()  # nothing listens on the intake's port yet
    for i in range(120):
        shipper.submit(event(i))
    await asyncio.sleep(0.5)
    assert shipper.retries >= 2
    assert "unreachable" in (shipper.last_error or "")
    assert shipper.spool.pending() == 120
    for i in range(120, 200):  # calls keep being audited during the outage
        shipper.submit(event(i))
    await intake.start()
    assert await shipper.wait_delivered(200, within_s=GUARD_S)
    assert intake.stored == ids(range(200))
    assert intake.received == 200


async def test_registry_503_then_recovers(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    intake.mode = "unavailable"
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url, batch_size=40)
    await shipper.start()
    for i in range(100):
        shipper.submit(event(i))
    await asyncio.sleep(0.4)
    assert intake.requests >= 2 and intake.stored == []
    assert "503" in (shipper.last_error or "")
    assert shipper.spool.pending() == 100
    intake.mode = "ok"
    assert await shipper.wait_delivered(100, within_s=GUARD_S)
    assert intake.stored == ids(range(100))
    assert intake.received == 100


async def test_lost_answer_is_resent_and_deduplicated(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    intake.mode, intake.failures_left = "store_then_fail", 2
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url, batch_size=25)
    for i in range(60):
        shipper.submit(event(i))
    await shipper.start()
    assert await shipper.wait_delivered(60, within_s=GUARD_S)
    assert intake.stored == ids(range(60))  # each stored once, in order
    assert intake.received == 60 + 2 * 25  # the first batch was sent three times
    assert shipper.duplicates == 25  # reported by the answer that got through
    assert shipper.retries == 2


async def test_429_with_retry_after(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    intake.mode, intake.failures_left = "throttle", 3
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url)
    for i in range(10):
        shipper.submit(event(i))
    await shipper.start()
    assert await shipper.wait_delivered(10, within_s=GUARD_S)
    assert shipper.retries == 3
    assert intake.stored == ids(range(10))


async def test_refused_event_goes_to_rejected_and_queue_continues(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url, batch_size=16)
    for i in range(40):
        shipper.submit(event(i, bad=True) if i == 11 else event(i))
    await shipper.start()
    assert await shipper.wait_delivered(40, within_s=GUARD_S)
    # Only the bad event is set aside; its neighbours in the same batch are delivered.
    assert intake.stored == ids([i for i in range(40) if i != 11])
    assert shipper.rejected == 1
    assert shipper.shipped == 39
    [kept] = shipper.spool.rejected_files()
    doc = json.loads(kept.read_text())
    assert doc["status"] == 400
    assert doc["events"] == [event(11, bad=True)]
    assert "invalid event" in doc["reason"]
    shipper.submit(event(40))  # and shipping goes on
    assert await shipper.wait_delivered(41, within_s=GUARD_S)
    assert intake.stored[-1] == ids([40])[0]


def spool_with_damage(directory: Path) -> list[bytes]:
    """Ten events, the 4th no longer valid JSON, the 7th zeros (what a power cut can leave)."""
    spool = AuditSpool(directory, fsync=False)
    for i in range(10):
        spool.append(event(i))
    spool.close()
    [segment] = list(directory.glob("segment-*.jsonl"))
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"event_id": "00000000-0000-4000-8000-000000000003", "n": 3, oops}\n'
    lines[6] = b"\x00" * 30 + b"\n"
    segment.write_bytes(b"".join(lines))
    return lines


async def test_damaged_spool_lines_are_set_aside_alone(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    await intake.start()
    lines = spool_with_damage(tmp_path)
    shipper = make(shippers, tmp_path, intake.url, batch_size=8)
    await shipper.start()
    assert await shipper.wait_delivered(10, within_s=GUARD_S)
    assert intake.stored == ids([0, 1, 2, 4, 5, 7, 8, 9])
    assert shipper.rejected == 2
    kept = [json.loads(p.read_text()) for p in shipper.spool.rejected_files()]
    assert sorted(e for doc in kept for e in doc["events"]) == sorted(
        [lines[3].decode().rstrip("\n"), "\x00" * 30]
    )


async def test_unauthorized_is_retried_not_rejected(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    intake.mode = "unauthorized"
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url)
    await shipper.start()
    for i in range(5):
        shipper.submit(event(i))
    await asyncio.sleep(0.3)
    assert shipper.retries >= 2 and shipper.rejected == 0
    assert shipper.spool.rejected_files() == []
    assert "401" in (shipper.last_error or "")
    intake.mode = "ok"  # token fixed on the registry side
    assert await shipper.wait_delivered(5, within_s=GUARD_S)
    assert intake.stored == ids(range(5))


async def test_notify_wakes_a_full_batch_early(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url, batch_size=10, interval_s=NEVER_S)
    await shipper.start()
    await asyncio.sleep(0.05)  # the loop is now asleep for the whole interval
    for i in range(9):
        shipper.submit(event(i))
    await asyncio.sleep(0.2)
    assert intake.stored == []  # not a full batch: it waits for the interval
    shipper.submit(event(9))  # only this wake-up can deliver before the interval ends
    assert await shipper.wait_delivered(10, within_s=GUARD_S)
    assert intake.stored == ids(range(10))


async def test_stop_drains_pending_events(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    await intake.start()
    shipper = make(shippers, tmp_path, intake.url, batch_size=20, interval_s=NEVER_S)
    await shipper.start()
    await asyncio.sleep(0.05)
    for i in range(55):
        shipper.spool.append(event(i))  # appended without notify: only stop() ships them
    await shipper.stop(drain_timeout_s=GUARD_S)  # a stop that did not wake the loop cuts off
    assert intake.stored == ids(range(55))
    assert shipper.spool.pending() == 0


async def test_stop_with_registry_down_keeps_events_for_next_start(
    tmp_path: Path, intake: Intake, shippers: list[AuditShipper]
) -> None:
    # After the first failed attempt the backoff is half to all of NEVER_S.
    first = make(shippers, tmp_path, intake.url, interval_s=NEVER_S, max_backoff_s=NEVER_S)
    await first.start()
    for i in range(30):
        first.submit(event(i))
    await asyncio.sleep(0.2)
    # stop() must end the backoff sleep, not wait it out (nor be cut off by its drain bound)
    await asyncio.wait_for(first.stop(drain_timeout_s=NEVER_S), GUARD_S)
    assert first.spool.pending() == 30
    shippers.remove(first)
    first.spool.close()  # the sidecar process ends here

    await intake.start()
    second = make(shippers, tmp_path, intake.url)  # restart on the same spool directory
    assert second.spool.pending() == 30
    await second.start()
    assert await second.wait_delivered(30, within_s=GUARD_S)
    assert intake.stored == ids(range(30))
    assert intake.received == 30


async def test_stop_is_bounded_while_a_request_hangs(
    tmp_path: Path, shippers: list[AuditShipper]
) -> None:
    hang = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await hang.wait()
        return web.json_response({"stored": 0, "duplicates": 0})

    app = web.Application()
    app.router.add_post("/api/v1/audit", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}"
        shipper = make(shippers, tmp_path, url, request_timeout_s=NEVER_S)
        shipper.submit(event(0))
        await shipper.start()
        await asyncio.sleep(0.2)
        # Only the drain bound can end this stop: the request neither answers nor times out.
        await asyncio.wait_for(shipper.stop(drain_timeout_s=0.5), GUARD_S)
        assert not hang.is_set()
        assert shipper.spool.pending() == 1  # not acknowledged: kept for the next start
    finally:
        hang.set()
        await runner.cleanup()


async def test_rejects_bad_settings(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, fsync=False) as spool:
        with pytest.raises(ValueError):
            AuditShipper(spool, "http://127.0.0.1:1", None, batch_size=501)
        with pytest.raises(ValueError):
            AuditShipper(spool, "http://127.0.0.1:1", None, interval_s=0)


def low(a: float, b: float) -> float:
    return a


def high(a: float, b: float) -> float:
    return b


def test_retry_delay_is_exponential_with_equal_jitter() -> None:
    """Drawn from [cap/2, cap], cap = interval * 2**failures up to the maximum; Retry-After
    lengthens it within the maximum."""
    caps = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    for failures, cap in enumerate(caps):
        assert retry_delay(failures, 1.0, 10.0, draw=low) == cap / 2
        assert retry_delay(failures, 1.0, 10.0, draw=high) == cap
        assert cap / 2 <= retry_delay(failures, 1.0, 10.0) <= cap
    assert retry_delay(10_000, 1.0, 10.0, draw=high) == 10.0  # no overflow on long outages
    assert retry_delay(1, 1.0, 10.0, hint=7.0, draw=low) == 7.0
    assert retry_delay(1, 1.0, 10.0, hint=600.0, draw=low) == 10.0
    assert retry_delay(3, 1.0, 10.0, hint=0.5, draw=low) == 4.0
