"""`greenlang-registry agent list|get|search|register`: a thin HTTP client of the registry API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kernel.cli import CliError, read_file
from kernel.registry_client import check, registry_client
from registry.cli.output import print_agent, print_search


def _emit(args: argparse.Namespace, body: Any, table: Any) -> int:
    if args.output == "json":
        json.dump(body, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        table(body)
    return 0


def _register(args: argparse.Namespace) -> int:
    files: dict[str, Any] = {
        "spec": ("spec.yaml", read_file(args.spec, "spec"), "application/yaml")
    }
    artifact = None
    if args.artifact:
        try:
            artifact = open(args.artifact, "rb")
        except OSError as exc:
            raise CliError(f"cannot read artifact {args.artifact}: {exc.strerror}", 2) from None
        files["artifact"] = (Path(args.artifact).name, artifact, "application/octet-stream")
    data = {"certificate_id": args.certificate_id} if args.certificate_id else None
    try:
        with registry_client() as client:
            body = check(client.post("/agents", files=files, data=data))
    finally:
        if artifact:
            artifact.close()
    return _emit(args, body, print_agent)


def _get(args: argparse.Namespace) -> int:
    with registry_client() as client:
        if args.version:
            body = check(client.get(f"/agents/{args.agent_id}/versions/{args.version}"))
            return _emit(args, body, lambda b: print(json.dumps(b, indent=2)))
        body = check(client.get(f"/agents/{args.agent_id}"))
    return _emit(args, body, print_agent)


def _search_params(args: argparse.Namespace) -> list[tuple[str, str | int | float | bool | None]]:
    params: list[tuple[str, str | int | float | bool | None]] = []
    if getattr(args, "query", None):
        params.append(("query", args.query))
    params += [("tags", t) for t in args.tag or []]
    params += [("regulatory_scope", s) for s in args.scope or []]
    for key, value in (
        ("owner_team", args.team),
        ("status", args.status),
        ("type", args.type),
        ("page", args.page),
        ("page_size", args.page_size),
    ):
        if value is not None:
            params.append((key, str(value)))
    return params


def _search(args: argparse.Namespace) -> int:
    path = "/agents/search" if getattr(args, "query", None) is not None else "/agents"
    with registry_client() as client:
        body = check(client.get(path, params=_search_params(args)))
    return _emit(args, body, print_search)


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tag", action="append", help="repeat for several (all must match)")
    p.add_argument("--scope", action="append", help="regulatory scope; repeatable")
    p.add_argument("--team", help="owner team")
    p.add_argument("--status", choices=["draft", "active", "deprecated", "retired"])
    p.add_argument("--type")
    p.add_argument("--page", type=int)
    p.add_argument("--page-size", type=int)


def add_parser(sub: Any) -> None:
    agent = sub.add_parser("agent", help="agents in a running registry ($GREENLANG_REGISTRY_URL)")
    cmds = agent.add_subparsers(dest="sub", required=True)
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--output", choices=["table", "json"], default="table")

    p = cmds.add_parser("list", parents=[output], help="list agents")
    _filters(p)
    p.set_defaults(run=_search)

    p = cmds.add_parser("search", parents=[output], help="full-text search")
    p.add_argument("query")
    _filters(p)
    p.set_defaults(run=_search)

    p = cmds.add_parser("get", parents=[output], help="show an agent or one version")
    p.add_argument("agent_id")
    p.add_argument("--version")
    p.set_defaults(run=_get)

    p = cmds.add_parser("register", parents=[output], help="register an agent spec")
    p.add_argument("spec", metavar="SPEC.yaml")
    p.add_argument("--artifact", metavar="FILE")
    p.add_argument("--certificate-id")
    p.set_defaults(run=_register)
