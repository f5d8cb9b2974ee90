"""`greenlang-lifecycle canary start|status|promote|abort`: thin calls of the registry's canary API
(/api/v1/agents/{id}/canary); `status` prints the judged intervals as a table."""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import httpx

from kernel.cli import CliError
from kernel.registry_client import check, registry_client
from registry.cli.lifecycle_commands import denied_or_checked, emit
from registry.cli.output import table

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
FINAL = ("promoted", "rolled_back")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    canary = sub.add_parser("canary", help="canary releases: start, status, promote, abort")
    verbs = canary.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("start", parents=[common], help="deploy VERSION next to the stable one")
    p.set_defaults(run=start)
    p.add_argument("agent_id")
    p.add_argument("version")
    p.add_argument("--weight", type=int, help="first step's percent (default: first step)")
    p.add_argument("--step-weights", default="10,25,50", help="percents, e.g. 10,25,50")
    p.add_argument("--interval", default="30s", help="analysis interval, e.g. 30s, 2m")
    p.add_argument("--threshold", type=int, default=3, help="failed checks before rollback")
    p.add_argument("--min-success-rate", type=float, default=99.0, help="percent non-5xx")
    p.add_argument("--max-p99-ms", type=float, default=500.0)
    p.add_argument("--min-requests", type=int, default=20, help="fewer: inconclusive")
    p.add_argument("--inconclusive-budget", type=int, default=5)
    p.add_argument("--environment", default="production")
    p.add_argument("--wait", action="store_true", help="follow it until promoted/rolled back")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to --wait")

    p = verbs.add_parser("status", parents=[common], help="state and judged intervals")
    p.set_defaults(run=status)
    p.add_argument("agent_id")
    p.add_argument("--environment", default="production")

    p = verbs.add_parser("promote", parents=[common], help="promote now, skipping the steps")
    p.set_defaults(run=promote)
    p.add_argument("agent_id")
    p.add_argument("--environment", default="production")

    p = verbs.add_parser("abort", parents=[common], help="all traffic back to stable now")
    p.set_defaults(run=abort)
    p.add_argument("agent_id")
    p.add_argument("--reason", default="")
    p.add_argument("--environment", default="production")


def duration_s(text: str) -> float:
    """`30s`, `2m`, `1.5h`, `500ms` or plain seconds."""
    m = DURATION.match(text.strip())
    if not m:
        raise CliError(f"--interval must be a duration like 30s or 2m, got {text!r}", 2)
    return float(m.group(1)) * UNIT_S[m.group(2) or "s"]


def weights(text: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise CliError(f"--step-weights must be integers like 10,25,50, got {text!r}", 2) from None


def start(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise CliError("--timeout must be a positive number of seconds", 2)
    body: dict[str, Any] = {
        "version": args.version,
        "environment": args.environment,
        "step_weights": weights(args.step_weights),
        "interval_s": duration_s(args.interval),
        "threshold": args.threshold,
        "min_success_rate": args.min_success_rate,
        "max_p99_ms": args.max_p99_ms,
        "min_requests": args.min_requests,
        "inconclusive_budget": args.inconclusive_budget,
    }
    if args.weight is not None:
        body["weight"] = args.weight
    with registry_client() as client:
        doc = denied_or_checked(client.post(_path(args), json=body), args)
        if args.wait:
            doc = _follow(client, args, doc)
    emit(args, doc, print_canary)
    return 1 if doc["status"] == "rolled_back" else 0


def _follow(client: httpx.Client, args: argparse.Namespace, doc: dict[str, Any]) -> Any:
    deadline = time.monotonic() + args.timeout
    seen = len(doc.get("intervals") or [])
    while doc["status"] not in FINAL:
        if time.monotonic() > deadline:
            raise CliError(f"canary {doc['canary_id']} still {doc['status']} after --timeout", 1)
        time.sleep(1.0)
        doc = check(client.get(_path(args), params={"environment": args.environment}))
        for row in (doc.get("intervals") or [])[seen:]:
            if not args.json:
                print(f"interval {row['n']}: {row['action']}: {row['reason']}", flush=True)
        seen = len(doc.get("intervals") or [])
    return doc


def status(args: argparse.Namespace) -> int:
    with registry_client() as client:
        doc = check(client.get(_path(args), params={"environment": args.environment}))
    emit(args, doc, print_canary)
    return 0


def promote(args: argparse.Namespace) -> int:
    return _act(args, "promote", None)


def abort(args: argparse.Namespace) -> int:
    return _act(args, "abort", {"reason": args.reason})


def _act(args: argparse.Namespace, verb: str, body: dict[str, Any] | None) -> int:
    with registry_client() as client:
        url = f"{_path(args)}/{verb}"
        doc = check(client.post(url, params={"environment": args.environment}, json=body))
    emit(args, doc, print_canary)
    return 0


def _path(args: argparse.Namespace) -> str:
    return f"/agents/{args.agent_id}/canary"


def print_canary(c: dict[str, Any]) -> None:
    print(
        f"{c['canary_id']}  {c['agent_id']} {c['stable_version']} -> {c['canary_version']}"
        f" in {c['environment']}: {c['status']}, weight {c['weight']}%"
        f" (failed checks {c['failed_checks']}/{c['settings']['threshold']},"
        f" inconclusive {c['inconclusive_count']}/{c['settings']['inconclusive_budget']})"
    )
    if c.get("reason"):
        print(f"reason: {c['reason']}")
    rows = c.get("intervals") or []
    if rows:
        print(table(INTERVAL_COLUMNS, [_row(r) for r in rows]))


INTERVAL_COLUMNS = ["#", "WEIGHT", "CALLS", "SUCCESS", "P99 MS", "VIOLATIONS", "VERDICT", "REASON"]


def _row(r: dict[str, Any]) -> tuple[Any, ...]:
    return (
        r["n"],
        f"{r['weight']}%",
        r["calls"],
        _num(r["success_rate"], "%"),
        _num(r["p99_ms"], ""),
        f"{r['violations']} ({_num(r['violation_rate'], '%')})",
        r["action"],
        r["reason"],
    )


def _num(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.2f}{unit}"
