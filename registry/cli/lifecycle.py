"""`greenlang-lifecycle`: promote, approve, deprecate, retire, roll back and undeploy agent
versions, and run canary releases, in a running registry ($GREENLANG_REGISTRY_URL,
$GREENLANG_TOKEN).

Exit codes: 0 ok, 1 server or network failure, a deployment that failed or a canary rolled
back (with --wait), 2 usage or bad
input (or a refused request), 3 refused by the deployment policies."""

from __future__ import annotations

import argparse
from typing import Any

from kernel.cli import run_cli
from registry.cli import canary_commands
from registry.cli import lifecycle_commands as c

STATUSES = ["pending", "progressing", "ready", "degraded", "failed", "stopping", "stopped"]


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    return common


def _add(sub: Any, name: str, run: Any, help: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, parents=[_common()], help=help)
    p.set_defaults(run=run)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenlang-lifecycle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = _add(sub, "promote", c.promote, "deploy a version; waits until ready, prints the endpoint")
    p.add_argument("agent_id")
    p.add_argument("version")
    p.add_argument("--environment", default="production")
    p.add_argument("--deployer", choices=["process", "docker", "kubernetes"])
    p.add_argument("--replicas", type=int)
    p.add_argument("--no-wait", action="store_true", help="return once the registry accepted it")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default 300)")

    p = _add(sub, "approve", c.approve, "approve a pending deployment (approver or admin)")
    p.add_argument("deployment_id")
    p.add_argument("--comment")

    p = _add(sub, "deprecate", c.deprecate, "deprecate a version with a sunset date")
    p.add_argument("agent_id")
    p.add_argument("version")
    p.add_argument("--sunset", required=True, metavar="DATE", help="YYYY-MM-DD or RFC 3339")
    p.add_argument("--replacement", metavar="AGENT_ID")
    p.add_argument("--reason")

    p = _add(sub, "retire", c.retire, "retire a version (refused while deployed)")
    p.add_argument("agent_id")
    p.add_argument("version")
    p.add_argument("--undeploy", action="store_true", help="stop its deployments first")
    p.add_argument("--reason")

    p = _add(sub, "rollback", c.rollback, "redeploy an earlier version in place of the current")
    p.add_argument("agent_id")
    p.add_argument("--to", required=True, metavar="VERSION")
    p.add_argument("--reason", required=True)
    p.add_argument("--environment", default="production")

    p = _add(sub, "undeploy", c.undeploy, "stop a deployment")
    p.add_argument("deployment_id")
    p.add_argument("--reason")

    p = _add(sub, "deployments", c.deployments, "list deployments, newest first")
    p.add_argument("agent_id", nargs="?")
    p.add_argument("--environment")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--limit", type=int)

    p = _add(sub, "status", c.status, "an agent's versions and live deployments")
    p.add_argument("agent_id")

    p = _add(sub, "subscribe", c.subscribe, "send an agent's or team's events to a webhook URL")
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--agent", metavar="AGENT_ID")
    scope.add_argument("--team")
    p.add_argument("--url", required=True)
    p.add_argument(
        "--event", action="append", dest="events", metavar="EVENT", help="repeat; default: all"
    )

    p = _add(sub, "unsubscribe", c.unsubscribe, "delete a webhook subscription")
    p.add_argument("subscription_id")

    canary_commands.add_parser(sub, _common())
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    raise SystemExit(run_cli(lambda: int(args.run(args))))


if __name__ == "__main__":
    main()
