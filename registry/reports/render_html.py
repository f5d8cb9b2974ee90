"""The report as one self-contained, printable HTML page: tables, and inline SVG charts of
violations over time, by policy and by agent. Every number is also in the JSON format; cells
carry a `data-k` key (e.g. `agent:<id>:calls`) so a test can compare the two."""

from __future__ import annotations

from datetime import datetime
from html import escape

from registry.reports import svg
from registry.reports.model import AgentReport, ComplianceReport, Counts, GroupTotals

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;color:#1b2631;margin:24px auto;max-width:980px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border:1px solid #ccd;padding:3px 6px;text-align:right}th{background:#eef}
td.t,th.t{text-align:left}.bad{color:#b03a2e;font-weight:600}.ok{color:#1e8449}
section.agent{break-inside:avoid}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}}
"""
COUNT_COLUMNS = ("calls", "allowed", "warned", "denied", "refused", "fail_open", "violating")


def num(n: int) -> str:
    return f"{n:,}"


def pct(rate: float) -> str:
    return f"{rate * 100:.3f}%"


def _cell(key: str, text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<td data-k="{escape(key)}"{c}>{escape(text)}</td>'


def _count_cells(prefix: str, c: Counts) -> str:
    cells = [_cell(f"{prefix}:{k}", num(getattr(c, k))) for k in COUNT_COLUMNS]
    cells.append(_cell(f"{prefix}:violation_rate", pct(c.violation_rate)))
    met = "yes" if c.target_met else "no"
    cells.append(_cell(f"{prefix}:target_met", met, "ok" if c.target_met else "bad"))
    return "".join(cells)


def _head(first: str, *extra: str) -> str:
    names = [first, *COUNT_COLUMNS, "violation rate", "< 0.1%", *extra]
    return (
        "<tr>"
        + "".join(f'<th class="{"t" if i == 0 else ""}">{n}</th>' for i, n in enumerate(names))
        + "</tr>"
    )


def _groups(kind: str, groups: list[GroupTotals]) -> str:
    rows = [
        f'<tr><td class="t">{escape(g.name)}</td>{_count_cells(f"{kind}:{g.name}", g.counts)}'
        f"{_cell(f'{kind}:{g.name}:score', f'{g.score:.1f}')}</tr>"
        for g in groups
    ]
    return f"<table>{_head(kind, 'score')}{''.join(rows)}</table>"


def _agent(a: AgentReport) -> str:
    key = f"agent:{a.agent_id}"
    versions = "".join(
        f'<tr><td class="t">{escape(v.version or "(none)")}</td>'
        f"{_count_cells(f'{key}:version:{v.version}', v.counts)}"
        f'<td class="t">{v.certificate.state}</td>'
        f'<td class="t">{_day(v.certificate.expires_at)}</td></tr>'
        for v in a.versions
    )
    policies = "".join(
        f'<tr><td class="t">{escape(p.policy_id)}</td>'
        f"{_cell(f'{key}:policy:{p.policy_id}:violations', num(p.violations))}"
        f"{_cell(f'{key}:policy:{p.policy_id}:warnings', num(p.warnings))}"
        f"{_cell(f'{key}:policy:{p.policy_id}:violation_rate', pct(p.violation_rate))}"
        f'<td class="t">{escape(", ".join(p.examples))}</td></tr>'
        for p in a.policies
    )
    events = "".join(
        f'<tr><td class="t">{e.at:%Y-%m-%d %H:%M}</td><td class="t">{e.kind}</td>'
        f'<td class="t">{escape(e.action)}</td><td class="t">{escape(e.target)}</td>'
        f'<td class="t">{escape(e.actor)}</td><td class="t">{escape(e.reason or "")}</td></tr>'
        for e in a.lifecycle
    )
    parts = a.score_parts
    return (
        f'<section class="agent"><h2>{escape(a.agent_id)}: {escape(a.name)}</h2>'
        f"<p>team {escape(a.team)}, scope {escape(', '.join(a.regulatory_scope) or '-')}; "
        f"score {_span(f'{key}:score', f'{a.score:.1f}')} = violations {parts.violations} + "
        f"decisions {parts.decisions} + certificates {parts.certificates} + audit chain "
        f"{parts.audit_chain}</p>"
        f"<table>{_head('version', 'certificate', 'expires')}{versions}</table>"
        "<table><tr><th class='t'>policy</th><th>violations</th><th>warnings</th>"
        f"<th>rate</th><th class='t'>example request ids</th></tr>{policies}</table>"
        + (
            "<table><tr><th class='t'>at (UTC)</th><th class='t'>kind</th><th class='t'>action"
            "</th><th class='t'>target</th><th class='t'>actor</th><th class='t'>reason</th>"
            f"</tr>{events}</table>"
            if events
            else "<p>No lifecycle events in the period.</p>"
        )
        + "</section>"
    )


def _day(at: datetime | None) -> str:
    return at.date().isoformat() if at else "-"


def _what(r: ComplianceReport) -> str:
    f = r.filter
    for kind, value in (("agent", f.agent), ("team", f.team), ("scope", f.scope)):
        if value is not None:
            return f"{kind} {value}"
    return "all agents"


def _agent_row(a: AgentReport) -> str:
    name = f'<td class="t">{escape(a.agent_id)}</td>'
    return f"<tr>{name}{_count_cells(f'agent:{a.agent_id}', a.counts)}<td>{a.score:.1f}</td></tr>"


def _span(key: str, text: str) -> str:
    return f'<span data-k="{escape(key)}">{escape(text)}</span>'


def _charts(r: ComplianceReport) -> str:
    daily = [(d.day.isoformat(), d.violating) for d in r.daily]
    policies = [(p.policy_id, p.violations, "") for p in r.policies[:12]]
    agents = sorted(r.agents, key=lambda a: -a.counts.violating)[:12]
    by_agent = [(a.agent_id, a.counts.violating, pct(a.counts.violation_rate)) for a in agents]
    return (
        "<h2>Violations over time (calls with a violation, per day)</h2>"
        + svg.columns("Violations per day", daily)
        + "<h2>Violations by policy</h2>"
        + svg.hbars("Violations by policy", policies)
        + "<h2>Violations by agent</h2>"
        + svg.hbars("Violations by agent", by_agent)
    )


def _chain(r: ComplianceReport) -> str:
    c = r.audit_chain
    if c.ok:
        text = f"verified through event {c.head_seq} ({c.rehashed} re-hashed now"
        text += (
            f", the rest verified {c.checkpoint_verified_at:%Y-%m-%d %H:%M} UTC)"
            if c.checkpoint_seq
            else ")"
        )
        return f'<p class="ok" data-k="chain:ok">verified</p><p>{escape(text)}</p>'
    return (
        f'<p class="bad" data-k="chain:ok">BROKEN</p><p>at event '
        f"{_span('chain:broken_at_seq', str(c.broken_at_seq))}: {escape(c.problem or '')}</p>"
    )


def render_html(r: ComplianceReport) -> str:
    what = _what(r)
    title = f"Compliance report: {what}, {r.period.start} to {r.period.end}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
        f"<p>Generated {r.generated_at:%Y-%m-%d %H:%M} UTC. Target: violation rate under "
        f"{pct(r.target_violation_rate)} per agent. Compliance score "
        f"{_span('total:score', f'{r.score:.1f}')} of 100.</p>"
        f"<h2>Totals</h2><table>{_head('')}"
        f"<tr><td></td>{_count_cells('total', r.totals)}</tr></table>"
        f"<h2>Audit chain</h2>{_chain(r)}"
        f"<h2>By team</h2>{_groups('team', r.teams)}"
        f"<h2>By regulatory scope</h2>{_groups('scope', r.scopes)}"
        f"<h2>Agents</h2><table>{_head('agent', 'score')}"
        + "".join(_agent_row(a) for a in r.agents)
        + "</table>"
        + _charts(r)
        + "".join(_agent(a) for a in r.agents)
        + "</body></html>"
    )
