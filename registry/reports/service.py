"""A compliance report from the database: the agents selected, their rolled-up counts for the
period, certificates, lifecycle events and the audit chain's verification."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import asyncpg

from registry.errors import NotFound
from registry.reports import chain
from registry.reports.compute import compute
from registry.reports.model import ComplianceReport, Period, ReportFilter
from registry.reports.query import ReportQuery
from registry.store.reports import report_agents, report_rows


async def compliance_report(pool: asyncpg.Pool, q: ReportQuery) -> ComplianceReport:
    agents = await report_agents(pool, q.agent, q.team, q.scope)
    if q.agent is not None and not agents:
        raise NotFound(f"agent {q.agent} is not registered")
    start = datetime.combine(q.from_, time(), UTC)
    end = datetime.combine(q.to + timedelta(days=1), time(), UTC)
    rows = await report_rows(pool, agents, q.from_, q.to, start, end)
    verified = await chain.verify(pool, full=q.chain == "full")
    return compute(
        rows,
        Period(start=q.from_, end=q.to),
        ReportFilter(agent=q.agent, team=q.team, scope=q.scope),
        verified,
        datetime.now(UTC),
    )
