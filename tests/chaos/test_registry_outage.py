"""The registry down while a sidecar carries steady traffic: every call is still decided (the
bundle is loaded), and once the registry is back every audit event reaches it: count in equals
count stored, in the order the sidecar served them, the hash chain intact (issue 14).

CI shortens the outage (GREENLANG_CHAOS_OUTAGE_S, default 10 s); bench/soak.py runs it longer."""

from __future__ import annotations

import os
import time

import asyncpg
import httpx

from tests.e2e.stack import SidecarProcess, caller_token, registry_cli
from tests.e2e.test_sidecar_e2e import AGENT, Stack
from tests.support.polling import wait_until

OUTAGE_S = float(os.environ.get("GREENLANG_CHAOS_OUTAGE_S", "10"))
USERS = [caller_token(sub=f"user-{n}") for n in range(20)]  # spread over rate limits


def _call(sidecar: SidecarProcess, n: int) -> int:
    headers = {"Authorization": f"Bearer {USERS[n % len(USERS)]}", "X-Request-ID": f"out-{n:05d}"}
    r = httpx.get(f"{sidecar.proxy_url}/v1/factors", headers=headers, timeout=30)
    return r.status_code


async def test_every_event_arrives_after_an_outage(stack: Stack, database_url: str) -> None:
    statuses: list[int] = []
    with stack.sidecar("sc", AGENT, "--rate-window", "1") as sc:
        statuses += [_call(sc, n) for n in range(30)]
        stack.registry.close()  # down: the sidecar decides with the bundle it holds
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            statuses.append(_call(sc, len(statuses)))
        during = len(statuses) - 30
        stack.registry.start()  # the same port and database
        sent = len(statuses)

        async def all_stored() -> list[str] | None:
            conn = await asyncpg.connect(database_url)
            try:
                rows = await conn.fetch(
                    "SELECT request_id FROM audit_events WHERE action = 'sidecar.invoke'"
                    " AND request_id LIKE 'out-%' ORDER BY seq"
                )
            finally:
                await conn.close()
            ids = [r["request_id"] for r in rows]
            return ids if len(ids) >= sent else None

        stored = await wait_until(all_stored, limit=120, what="every spooled event stored")
    assert during > 10, "too few calls during the outage to mean anything"
    assert all(s < 500 for s in statuses), sorted(set(statuses))  # all decided, none failed
    assert stored == [f"out-{n:05d}" for n in range(sent)]  # each once, in serving order
    verify = registry_cli(stack.registry.environment(), "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
