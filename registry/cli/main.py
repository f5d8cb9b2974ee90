"""`greenlang-registry`: run the service (serve, token, audit, reindex) and talk to it (agent ...).

Exit codes: 0 ok, 1 server or network failure, 2 usage or bad input."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from kernel.cli import CliError, run_cli
from registry.auth.models import Role
from registry.cli import agent_commands
from registry.config import DEPLOYERS, RegistryConfig


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        help="where the embedded database and artifacts live "
        "(default $GREENLANG_DATA_DIR or ~/.greenlang/registry)",
    )


def _config(args: argparse.Namespace) -> RegistryConfig:
    try:
        return RegistryConfig.load(
            data_dir=args.data_dir,
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            deployer=getattr(args, "deployer", None),
        )
    except ValueError as exc:
        raise CliError(str(exc), 2) from None


async def _serve(args: argparse.Namespace) -> int:
    from registry.server import serve

    if args.workers < 1:
        raise CliError("--workers must be at least 1", 2)
    seed = Path(args.seed) if args.seed else None
    if seed and not seed.is_dir():
        raise CliError(f"--seed {args.seed}: not a directory", 2)
    return await serve(_config(args), args.workers, seed, args.worker)


async def _with_database(
    args: argparse.Namespace, fn: Callable[[Any], Coroutine[Any, Any, int]]
) -> int:
    from registry.runtime import open_database
    from registry.store.postgres import PgMetadataStore

    db = await open_database(_config(args), max_size=2)
    try:
        return await fn(PgMetadataStore(db.pool))
    finally:
        await db.pool.close()


async def _token_create(args: argparse.Namespace) -> int:
    from registry.auth.tokens import create_token

    if args.role == Role.PUBLISHER.value and not args.team:
        raise CliError("a publisher token needs --team", 2)

    async def create(store: Any) -> int:
        principal, secret = await create_token(store, Role(args.role), args.team, args.name)
        print(
            f"created token {principal.token_id} ({principal.name}, role {principal.role.value})",
            file=sys.stderr,
        )
        print(secret)
        return 0

    return await _with_database(args, create)


async def _token_revoke(args: argparse.Namespace) -> int:
    from registry.auth.tokens import revoke_token

    async def revoke(store: Any) -> int:
        if not await revoke_token(store, args.token_id):
            raise CliError(f"no live token with id {args.token_id!r}", 2)
        print(f"revoked token {args.token_id} (in-flight caches forget it within 10 s)")
        return 0

    return await _with_database(args, revoke)


async def _token_list(args: argparse.Namespace) -> int:
    from registry.auth.tokens import list_tokens
    from registry.cli.output import table

    async def show(store: Any) -> int:
        rows = await list_tokens(store)
        print(
            table(
                ["ID", "NAME", "ROLE", "TEAM", "CREATED", "REVOKED"],
                [
                    (
                        r["token_id"],
                        r["name"],
                        r["role"],
                        r["team"],
                        r["created_at"].isoformat()[:19],
                        r["revoked_at"].isoformat()[:19] if r["revoked_at"] else "",
                    )
                    for r in rows
                ],
            )
        )
        return 0

    return await _with_database(args, show)


async def _audit_verify(args: argparse.Namespace) -> int:
    from registry.audit.chain import verify_chain

    async def verify(store: Any) -> int:
        report = await verify_chain(store.audit)
        if report.ok:
            print(f"audit chain intact: {report.checked} events verified")
            return 0
        print(
            f"audit chain BROKEN at seq {report.broken_at_seq}: {report.problem} "
            f"({report.checked} events verified before it)"
        )
        return 1

    return await _with_database(args, verify)


async def _backup(args: argparse.Namespace) -> int:
    from registry.cli.backup_commands import backup

    return await backup(_config(args), Path(args.output))


async def _restore(args: argparse.Namespace) -> int:
    from registry.cli.backup_commands import restore

    return await restore(_config(args), Path(args.directory))


async def _reindex(args: argparse.Namespace) -> int:
    from registry.runtime import open_service

    async with AsyncExitStack() as stack:
        service, _ = await open_service(_config(args), stack)
        await service.index.clear()
        queued = await service.store.outbox.enqueue_all()
        await service.relay.drain()
        print(f"reindexed {queued} agents")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenlang-registry", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the registry API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--seed", metavar="DIR", help="register the example agents found in DIR")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--deployer",
        choices=[*DEPLOYERS, "none"],
        help="default deployer of the deployment controller (default $GREENLANG_DEPLOYER or "
        "process; none: no controller); a deployment may name another",
    )
    _server_args(serve)
    serve.set_defaults(run=_serve)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="sub", required=True
    )
    create = token.add_parser("create", help="create a token; prints it alone on the last line")
    create.add_argument(
        "--role",
        required=True,
        choices=[r.value for r in Role],
        help="viewer/publisher/approver/admin for people and CI; service for sidecars and OPAs "
        "(report audit events, status and decision logs; read like a viewer)",
    )
    create.add_argument("--team")
    create.add_argument("--name")
    _server_args(create)
    create.set_defaults(run=_token_create)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id")
    _server_args(revoke)
    revoke.set_defaults(run=_token_revoke)
    listing = token.add_parser("list", help="list tokens (never their secrets)")
    _server_args(listing)
    listing.set_defaults(run=_token_list)

    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="sub", required=True)
    verify = audit.add_parser("verify", help="check the audit hash chain")
    _server_args(verify)
    verify.set_defaults(run=_audit_verify)

    backup = sub.add_parser("backup", help="database, artifacts and audit chain into a directory")
    backup.add_argument("--output", required=True, help="a new or empty directory")
    _server_args(backup)
    backup.set_defaults(run=_backup)
    restore = sub.add_parser("restore", help="a backup into an empty registry")
    restore.add_argument("directory", help="what `backup --output` wrote")
    _server_args(restore)
    restore.set_defaults(run=_restore)
    reindex = sub.add_parser("reindex", help="rebuild the search index from the database")
    _server_args(reindex)
    reindex.set_defaults(run=_reindex)

    agent_commands.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    def run() -> int:
        result = args.run(args)
        return asyncio.run(result) if inspect.iscoroutine(result) else result

    raise SystemExit(run_cli(run))


if __name__ == "__main__":
    main()
