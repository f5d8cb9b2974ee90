"""Two registry processes on one PostgreSQL, as a user scaling out runs them: both serve every
call and see each other's writes; exactly one runs the once-per-registry duties (controller,
canary analysis, webhooks, sweeper, relay), and the other takes over when it dies."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.api.conftest import make_spec
from tests.e2e.stack import RegistryProcess
from tests.support.polling import wait_until

LEADER = re.compile(r"^greenlang_registry_leader (\S+)$", re.M)


async def _leads(client: httpx.AsyncClient, registry: RegistryProcess) -> bool:
    text = (await client.get(f"http://127.0.0.1:{registry.port}/metrics")).text
    match = LEADER.search(text)
    assert match, "the leader gauge is missing"
    return float(match.group(1)) == 1.0


async def test_one_leader_and_a_takeover(database_url: str, tmp_path: Path) -> None:
    one = RegistryProcess(tmp_path / "one", database_url).start()
    two = RegistryProcess(tmp_path / "two", database_url).start()
    try:
        token = one.token("admin")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:

            async def one_leader() -> list[bool] | None:
                leads = [await _leads(client, r) for r in (one, two)]
                return leads if sum(leads) == 1 else None

            leads = await wait_until(one_leader, limit=30, what="exactly one leader")
            leader, follower = (one, two) if leads[0] else (two, one)

            # a write on the follower is seen on the leader (entry caches are notified)
            body = {"spec": make_spec(agent_id="gl-scaled-out")}
            r = await client.post(f"http://127.0.0.1:{follower.port}/api/v1/agents", json=body)
            assert r.status_code == 201, r.text
            r = await client.get(f"http://127.0.0.1:{leader.port}/api/v1/agents/gl-scaled-out")
            assert r.status_code == 200 and r.json()["current_version"] == "1.0.0"

            leader._proc.kill()  # no goodbye: its database session ends with the process
            leader._proc.wait(30)

            async def took_over() -> bool:
                return await _leads(client, follower)

            await wait_until(took_over, limit=30, what="the follower to take over")
            r = await client.get(f"http://127.0.0.1:{follower.port}/api/v1/agents/gl-scaled-out")
            assert r.status_code == 200
    finally:
        one.close()
        two.close()
    for registry in (one, two):
        assert "unhandled error" not in registry.log()
    assert "leadership taken" in follower.log()
