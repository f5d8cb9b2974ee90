"""agent_certificate_expiry_days on the registry's /metrics, over the real PostgreSQL: days to the
version's best certificate, negative once expired, current at every scrape without a database
read per scrape; refreshed on this process's writes, on other processes' announced changes, and
after its maximum age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from registry.catalog.certificate_expiry import CertificateExpiryGauge
from registry.store.certificates import PgCertificates
from tests.api.conftest import Api, make_spec
from tests.support.polling import wait_until

AGENT = "gl-cbam-calculator"
NAME = "agent_certificate_expiry_days"


async def scrape(api: Api) -> dict[str, float]:
    """The gauge's value per version of AGENT."""
    resp = await api.client.get("/metrics")
    assert resp.status == 200
    return {
        s.labels["version"]: s.value
        for family in text_string_to_metric_families(await resp.text())
        for s in family.samples
        if s.name == NAME and s.labels["agent_id"] == AGENT
    }


async def certify(api: Api, version: str, days: float) -> None:
    expires = (datetime.now(UTC) + timedelta(days=days)).isoformat()
    body = {"agent_id": AGENT, "version": version, "expires_at": expires, "issuer": "TÜV"}
    r = await api.call("POST", "/api/v1/certificates", "approver", json=body)
    assert r.status == 201, await r.text()


async def register(api: Api, version: str) -> None:
    r = await api.register(make_spec(version=version), "publisher")
    assert r.status == 201, await r.text()


async def test_days_to_the_best_certificate_and_negative_once_expired(api: Api) -> None:
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        await register(api, version)
    assert await scrape(api) == {}  # nothing certified yet
    await certify(api, "1.0.0", 365)
    await certify(api, "1.0.0", 20)  # a shorter one: the version is covered by the later one
    await certify(api, "2.0.0", -3)
    days = await scrape(api)
    assert set(days) == {"1.0.0", "2.0.0"}
    assert 364.9 < days["1.0.0"] <= 365
    assert -3.1 < days["2.0.0"] < -2.9


async def test_a_retired_version_is_no_longer_reported(api: Api) -> None:
    await register(api, "1.0.0")
    await certify(api, "1.0.0", 10)
    assert set(await scrape(api)) == {"1.0.0"}
    for status in ("active", "deprecated", "retired"):
        r = await api.call(
            "PATCH", f"/api/v1/agents/{AGENT}/versions/1.0.0", "approver", json={"status": status}
        )
        assert r.status == 200, await r.text()
    assert await scrape(api) == {}


async def test_scrapes_read_the_snapshot_not_the_database(api: Api) -> None:
    await register(api, "1.0.0")
    await certify(api, "1.0.0", 30)
    gauge = api.service.certificate_expiry
    await scrape(api)
    reads = gauge.reads
    for _ in range(5):
        await scrape(api)
    assert gauge.reads == reads
    await certify(api, "1.0.0", 90)  # a write in this process: the next scrape reads again
    assert 89.9 < (await scrape(api))["1.0.0"] <= 90
    assert gauge.reads == reads + 1


async def test_another_processs_change_arrives_by_notification(
    api: Api, pool: asyncpg.Pool
) -> None:
    await register(api, "1.0.0")
    await api.service.entries.start()  # listens on greenlang_agents, as a served registry does
    try:
        assert api.service.entries.listening
        assert await scrape(api) == {}
        expires = datetime.now(UTC) + timedelta(days=7)
        await pool.execute(  # another writer: nothing in this process knows of it
            "INSERT INTO certificates (certificate_id, agent_id, version, issuer, issued_at,"
            " expires_at, issued_by) VALUES ('CERT-X', $1, '1.0.0', 'x', now(), $2, 'other')",
            AGENT,
            expires,
        )

        async def seen() -> float | None:
            return (await scrape(api)).get("1.0.0")

        assert 6.9 < await wait_until(seen, limit=20, what="the notified certificate") <= 7
    finally:
        await api.service.entries.close()


async def test_value_follows_the_clock_and_the_maximum_age(api: Api, pool: asyncpg.Pool) -> None:
    await register(api, "1.0.0")
    await certify(api, "1.0.0", 1)
    now = [datetime.now(UTC).timestamp()]
    gauge = CertificateExpiryGauge(PgCertificates(pool), max_age_s=3600, clock=lambda: now[0])

    def days() -> float:
        [family] = list(gauge.collect())
        [sample] = [s for s in family.samples if s.labels["agent_id"] == AGENT]
        return sample.value

    await gauge.refresh_if_stale()
    assert 0.99 < days() <= 1
    now[0] += 2 * 86_400  # two days later, no write, no read: expired a day ago
    assert -1.01 < days() <= -0.99
    assert gauge.reads == 1
    await pool.execute("DELETE FROM certificates WHERE agent_id = $1", AGENT)
    await gauge.refresh_if_stale()
    assert gauge.reads == 1  # fresh: not read again
    gauge.max_age_s = 0.0  # the age passed
    await gauge.refresh_if_stale()
    assert gauge.reads == 2 and next(iter(gauge.collect())).samples == []
