"""The HTML report as a browser shows it: rendered by headless Chromium (Debian's, installed by
.ci/install.sh), its DOM holds the charts and the same numbers as the JSON report, and it prints
to PDF."""

from __future__ import annotations

import asyncio
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tests.api.conftest import Api
from tests.reports.seed import PERIOD, RBAC, A, B, seed
from tests.reports.test_compliance_report import COUNT_KEYS, report

CHROMIUM = "/usr/bin/chromium"


class Cells(HTMLParser):
    """Text of every element with a data-k key, and the SVG bars, of the rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.bars = 0
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.bars += tag == "rect" and found.get("class") == "bar"
        self._open.append(found.get("data-k"))

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        key = self._open[-1] if self._open else None
        if key:
            self.values[key] = self.values.get(key, "") + data


async def chromium(*args: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": os.environ.get("TMPDIR", "/tmp")},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return out


def shown(count: int) -> str:
    return f"{count:,}"


def expected_cells(doc: dict[str, Any]) -> dict[str, str]:
    """What the page must show for each key, formatted from the JSON report."""
    want: dict[str, str] = {"total:score": f"{doc['score']:.1f}"}

    def counts(prefix: str, c: dict[str, Any]) -> None:
        for k in COUNT_KEYS:
            want[f"{prefix}:{k}"] = shown(c[k])
        want[f"{prefix}:violation_rate"] = f"{c['violation_rate'] * 100:.3f}%"
        want[f"{prefix}:target_met"] = "yes" if c["target_met"] else "no"

    counts("total", doc["totals"])
    for kind in ("teams", "scopes"):
        for g in doc[kind]:
            counts(f"{kind[:-1]}:{g['name']}", g["counts"])
            want[f"{kind[:-1]}:{g['name']}:score"] = f"{g['score']:.1f}"
    for a in doc["agents"]:
        key = f"agent:{a['agent_id']}"
        counts(key, a["counts"])
        want[f"{key}:score"] = f"{a['score']:.1f}"
        for v in a["versions"]:
            counts(f"{key}:version:{v['version']}", v["counts"])
        for p in a["policies"]:
            want[f"{key}:policy:{p['policy_id']}:violations"] = shown(p["violations"])
            want[f"{key}:policy:{p['policy_id']}:warnings"] = shown(p["warnings"])
            rate = f"{p['violation_rate'] * 100:.3f}%"
            want[f"{key}:policy:{p['policy_id']}:violation_rate"] = rate
    want["chain:ok"] = "verified" if doc["audit_chain"]["ok"] else "BROKEN"
    return want


async def test_the_rendered_page_shows_the_json_numbers(api: Api, tmp_path: Path) -> None:
    await seed(api)
    page = tmp_path / "report.html"
    page.write_text(await report(api, "html"), encoding="utf-8")
    doc = await report(api)
    dom = (await chromium("--dump-dom", page.as_uri())).decode()
    cells = Cells()
    cells.feed(dom)
    want = expected_cells(doc)
    assert cells.values == want
    # Spot checks against the seed itself, so a formatting bug shared by both sides shows.
    assert cells.values[f"agent:{A}:calls"] == "14"
    assert cells.values[f"agent:{A}:policy:{RBAC}:violations"] == "3"
    assert cells.values[f"agent:{B}:target_met"] == "yes"
    # Charts: one bar per day, per policy, per agent.
    assert cells.bars == len(doc["daily"]) + len(doc["policies"]) + len(doc["agents"]) == 7
    assert "<svg" in dom and "Violations by policy" in dom


async def test_the_page_prints(api: Api, tmp_path: Path) -> None:
    await seed(api)
    page = tmp_path / "report.html"
    page.write_text(await report(api, "html", **PERIOD), encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    await chromium("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
