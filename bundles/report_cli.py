"""`greenlang-governance report compliance`: the registry's compliance report for a period
(docs/reports.md), fetched from GET /api/v1/reports/compliance and printed or written to a
file."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from kernel.cli import CliError
from kernel.registry_client import check, registry_client


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def report_compliance(args: argparse.Namespace) -> int:
    if args.to < args.from_:
        raise CliError("--to is before --from", 2)
    params = {"from": args.from_.isoformat(), "to": args.to.isoformat(), "format": args.format}
    for key in ("agent", "team", "scope"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.full_chain:
        params["chain"] = "full"
    with registry_client() as client:
        response = client.get("/reports/compliance", params=params)
    if not response.is_success:
        check(response)  # raises the one-line error
    body = response.text
    if args.format != "html":
        body = json.dumps(response.json(), indent=2) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(body, encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror}", 2) from None
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(body)
    return 0


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="compliance reports").add_subparsers(
        dest="sub", required=True
    )
    p = report.add_parser("compliance", help="the compliance report of a period")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--agent", help="one agent id")
    which.add_argument("--team", help="the agents of an owner team")
    which.add_argument("--scope", help="the agents of a regulatory scope, e.g. CBAM")
    p.add_argument(
        "--from", dest="from_", type=_day, required=True, help="first day (UTC), YYYY-MM-DD"
    )
    p.add_argument("--to", type=_day, required=True, help="last day (UTC, inclusive)")
    p.add_argument("--format", choices=("json", "html", "policyreport"), default="json")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.add_argument(
        "--full-chain",
        action="store_true",
        help="re-hash the whole audit trail, not only new events",
    )
    p.set_defaults(run=report_compliance)
