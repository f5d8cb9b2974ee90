"""The commands of `greenlang-lifecycle`: thin HTTP calls of the registry's lifecycle API, with
`promote` following its deployment until it is ready (or failed)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

import httpx

from kernel.cli import CliError
from kernel.registry_client import check, registry_client
from registry.cli.output import table

POLICY_DENIED = "/policy-denied"
EXIT_DENIED = 3
SUMMARY = ("deployment_id", "agent_id", "version", "environment", "status", "endpoint")


def emit(args: argparse.Namespace, body: Any, human: Any) -> None:
    if args.json:
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        human(body)


def denied_or_checked(response: httpx.Response, args: argparse.Namespace) -> Any:
    """The body of a success; a policy refusal names the violations and exits 3."""
    if response.status_code == 403:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if str(body.get("type", "")).endswith(POLICY_DENIED):
            _report_denial(body, args)
            raise CliError(str(body.get("detail", "denied by policy")), EXIT_DENIED)
    return check(response)


def _report_denial(body: dict[str, Any], args: argparse.Namespace) -> None:
    dep = body.get("deployment_id")
    if args.json:
        keep = {k: body.get(k) for k in ("detail", "violations", "warnings", "deployment_id")}
        emit(args, {"status": "denied", **keep}, print)
        return
    print("denied by policy:", file=sys.stderr)
    for v in body.get("violations", []):
        print(f"  {v.get('policy_id')}: {v.get('message')}", file=sys.stderr)
    if dep:
        print(
            f"deployment {dep} is pending; an approver runs: greenlang-lifecycle approve {dep}",
            file=sys.stderr,
        )


def _warn(doc: dict[str, Any]) -> None:
    for w in doc.get("warnings") or []:
        print(f"warning: {w['policy_id']}: {w['message']}", file=sys.stderr)


def print_deployment(d: dict[str, Any]) -> None:
    print(
        f"{d['deployment_id']}  {d['agent_id']} {d['version']} -> {d['environment']}"
        f"  {d['status']} (desired {d['desired']}, {d['replicas']} x {d['deployer']})"
    )
    if d.get("endpoint"):
        print(f"endpoint: {d['endpoint']}")
    if d.get("message"):
        print(f"message: {d['message']}")
    for v in d.get("violations") or []:
        print(f"still missing: {v['policy_id']}: {v['message']}")


def print_deployments(rows: list[dict[str, Any]]) -> None:
    print(
        table(
            ["DEPLOYMENT", "AGENT", "VERSION", "ENV", "STATUS", "DESIRED", "ENDPOINT"],
            [
                (
                    d["deployment_id"],
                    d["agent_id"],
                    d["version"],
                    d["environment"],
                    d["status"],
                    d["desired"],
                    d["endpoint"],
                )
                for d in rows
            ],
        )
    )


# -- promote -------------------------------------------------------------------------------------


def promote(args: argparse.Namespace) -> int:
    if args.replicas is not None and not 1 <= args.replicas <= 100:
        raise CliError("--replicas must be between 1 and 100", 2)
    if args.timeout <= 0:
        raise CliError("--timeout must be a positive number of seconds", 2)
    body: dict[str, Any] = {"version": args.version, "environment": args.environment}
    if args.replicas is not None:
        body["replicas"] = args.replicas
    if args.deployer:
        body["deployer"] = args.deployer
    with registry_client() as client:
        doc = denied_or_checked(client.post(f"/agents/{args.agent_id}/deploy", json=body), args)
        _warn(doc)
        if not args.no_wait:
            doc = _follow(client, doc["deployment_id"], args.timeout)
    summary = {k: doc.get(k) for k in SUMMARY}
    emit(args, summary, lambda _: print_deployment(doc))
    return 0


def _follow(client: httpx.Client, deployment_id: str, timeout: float) -> dict[str, Any]:
    """Poll the deployment until ready (returned), failed or stopped (exit 1), or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = check(client.get(f"/deployments/{deployment_id}"))
        if doc["status"] == "ready":
            return doc
        if doc["status"] in ("failed", "stopping", "stopped"):
            why = doc.get("message") or doc.get("stop_reason") or doc["status"]
            raise CliError(f"deployment {deployment_id} {doc['status']}: {why}", 1)
        if time.monotonic() > deadline:
            raise CliError(
                f"deployment {deployment_id} is still {doc['status']} after {timeout:g} s"
                " (it goes on; follow it with: greenlang-lifecycle deployments)",
                1,
            )
        time.sleep(0.5)


# -- the other commands ----------------------------------------------------------------------------


def approve(args: argparse.Namespace) -> int:
    with registry_client() as client:
        body = {"comment": args.comment or ""}
        doc = check(client.post(f"/deployments/{args.deployment_id}/approvals", json=body))
    emit(args, doc, print_deployment)
    return 0


def parse_sunset(text: str) -> str:
    """A date (midnight UTC) or an RFC 3339 time with a zone; anything else is a usage error."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC).isoformat()
        when = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--sunset {text!r}: use YYYY-MM-DD or 2027-01-01T00:00:00Z", 2) from None
    if when.tzinfo is None:
        raise CliError(f"--sunset {text!r} needs a time zone, e.g. 2027-01-01T00:00:00Z", 2)
    return when.isoformat()


def deprecate(args: argparse.Namespace) -> int:
    body = {"sunset": parse_sunset(args.sunset), "reason": args.reason or ""}
    if args.replacement:
        body["replacement"] = args.replacement
    path = f"/agents/{args.agent_id}/versions/{args.version}/deprecate"
    with registry_client() as client:
        doc = check(client.post(path, json=body))
    emit(
        args,
        doc,
        lambda v: print(f"{args.agent_id} {v['version']} deprecated until {v['sunset_at']}"),
    )
    return 0


def retire(args: argparse.Namespace) -> int:
    body = {"reason": args.reason or "", "undeploy": args.undeploy}
    path = f"/agents/{args.agent_id}/versions/{args.version}/retire"
    with registry_client() as client:
        doc = check(client.post(path, json=body))
    emit(args, doc, lambda v: print(f"{args.agent_id} {v['version']} retired"))
    return 0


def rollback(args: argparse.Namespace) -> int:
    body = {"to": args.to, "reason": args.reason, "environment": args.environment}
    with registry_client() as client:
        doc = check(client.post(f"/agents/{args.agent_id}/rollback", json=body))
    emit(args, doc, print_deployment)
    return 0


def undeploy(args: argparse.Namespace) -> int:
    params = {"reason": args.reason} if args.reason else None
    with registry_client() as client:
        doc = check(client.delete(f"/deployments/{args.deployment_id}", params=params))
    emit(args, doc, print_deployment)
    return 0


def deployments(args: argparse.Namespace) -> int:
    params = {
        k: v
        for k, v in (
            ("agent_id", args.agent_id),
            ("environment", args.environment),
            ("status", args.status),
            ("limit", args.limit),
        )
        if v is not None
    }
    with registry_client() as client:
        rows = check(client.get("/deployments", params=params))
    emit(args, rows, print_deployments)
    return 0


def status(args: argparse.Namespace) -> int:
    with registry_client() as client:
        entry = check(client.get(f"/agents/{args.agent_id}"))
        live = check(client.get("/deployments", params={"agent_id": args.agent_id}))
    live = [d for d in live if d["status"] != "stopped"]
    emit(args, {"agent": entry, "deployments": live}, lambda _: _print_status(entry, live))
    return 0


def _print_status(entry: dict[str, Any], live: list[dict[str, Any]]) -> None:
    print(
        f"{entry['agent_id']}  serving {entry['current_version']} ({entry['status']}),"
        f" {entry['deployment_count']} live deployment(s)"
    )
    rows = [
        (
            v["version"],
            v["status"],
            "yes" if v["certified"] else "no",
            (v.get("sunset_at") or "")[:19],
            v.get("replacement_agent_id"),
        )
        for v in entry["versions"]
    ]
    print(table(["VERSION", "STATUS", "CERTIFIED", "SUNSET", "REPLACEMENT"], rows))
    if live:
        print()
        print_deployments(live)


# -- webhook subscriptions -----------------------------------------------------------------------


def subscribe(args: argparse.Namespace) -> int:
    """The secret is in the answer only once: print it, with a word that it is not shown again."""
    body: dict[str, Any] = {"url": args.url}
    body |= {"agent_id": args.agent} if args.agent else {"team": args.team}
    if args.events:
        body["events"] = args.events
    with registry_client() as client:
        doc = check(client.post("/subscriptions", json=body))
    emit(args, doc, _print_subscription)
    return 0


def _print_subscription(doc: dict[str, Any]) -> None:
    scope = f"agent {doc['agent_id']}" if doc.get("agent_id") else f"team {doc['team']}"
    print(f"{doc['subscription_id']}  {scope} -> {doc['url']}  events: {', '.join(doc['events'])}")
    print(f"secret: {doc['secret']}")
    print("(the secret is shown only now: keep it with the receiver to verify signatures)")


def unsubscribe(args: argparse.Namespace) -> int:
    with registry_client() as client:
        doc = check(client.delete(f"/subscriptions/{args.subscription_id}"))
    emit(args, doc, lambda d: print(f"{d['subscription_id']} deleted"))
    return 0
