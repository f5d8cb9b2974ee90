"""`greenlang-governance`: policies in the registry, policy tests, bundles, decisions, OPA status.

Exit codes: 0 ok (and allow/warn for `decide`), 1 server or network failure, 2 usage or bad
input, 3 a `decide` that denies."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from registry.cli.errors import CliError, run_cli
from registry.cli.http import check, registry_client


def _print(body: Any) -> int:
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", 2) from None


def policy_list(args: argparse.Namespace) -> int:
    with registry_client() as client:
        rows = check(client.get("/policies"))
    for p in rows:
        state = "enabled" if p["enabled"] else "disabled"
        print(f"{p['policy_id']:<45} {p['type']:<15} {state:<9} rev {p['revision']}  {p['name']}")
    return 0


def policy_show(args: argparse.Namespace) -> int:
    with registry_client() as client:
        return _print(check(client.get(f"/policies/{args.policy_id}")))


def policy_create(args: argparse.Namespace) -> int:
    body = _read(args.file)
    with registry_client() as client:
        created = check(
            client.post("/policies", content=body, headers={"Content-Type": "application/yaml"})
        )
    print(f"created {created['policy_id']} (revision {created['revision']})")
    return 0


def _toggle(args: argparse.Namespace, action: str) -> int:
    payload = {"reason": args.reason} if args.reason else {}
    with registry_client() as client:
        p = check(client.post(f"/policies/{args.policy_id}/{action}", json=payload))
    print(f"{p['policy_id']} {action}d (revision {p['revision']})")
    return 0


def status(args: argparse.Namespace) -> int:
    with registry_client() as client:
        instances = check(client.get("/opa/instances"))
        head = client.head(f"/bundles/{args.bundle}")
    current = head.headers.get("ETag", "").strip('"') if head.is_success else None
    if not instances:
        print("no OPA instance has reported yet")
    for inst in instances:
        bundle = inst["bundles"].get(args.bundle, {})
        revision = bundle.get("active_revision", "-")
        verdict = "current" if current and revision == current else "STALE"
        errors = "; ".join(e.get("message", "") for e in bundle.get("errors") or []) or ""
        print(f"{inst['instance_id']:<40} {revision:<20} {verdict:<8} {inst['last_seen']} {errors}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenlang-governance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    policy = sub.add_parser("policy", help="policies").add_subparsers(dest="sub", required=True)
    p = policy.add_parser("list", help="policies stored in the registry")
    p.set_defaults(run=policy_list)
    p = policy.add_parser("show", help="one policy with its history")
    p.add_argument("policy_id")
    p.set_defaults(run=policy_show)
    p = policy.add_parser("create", help="store a policy YAML in the registry")
    p.add_argument("file")
    p.set_defaults(run=policy_create)
    for action in ("enable", "disable"):
        p = policy.add_parser(action, help=f"{action} a stored policy")
        p.add_argument("policy_id")
        p.add_argument("--reason")
        p.set_defaults(run=lambda a, action=action: _toggle(a, action))
    p = sub.add_parser("status", help="which revision each OPA instance runs")
    p.add_argument("--bundle", default="greenlang")
    p.set_defaults(run=status)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    raise SystemExit(run_cli(lambda: int(args.run(args))))


if __name__ == "__main__":
    main()
