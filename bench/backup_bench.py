"""Backup and restore of a loaded registry: the figures behind RPO/RTO in docs/operations.md.

    python bench/backup_bench.py [--events 200000] [--artifacts 20] [--artifact-mb 1]

1. A registry as bench/intake_bench.py builds it (PostgreSQL, --agents bulk-loaded agents,
   `greenlang-registry serve`), --events audit events through the real intake, and --artifacts
   agents registered through the API, each with an --artifact-mb random artifact.
2. `greenlang-registry backup --output DIR` while the server keeps serving (timed).
3. `greenlang-registry restore DIR` into a new empty database and data dir (timed), then
   `greenlang-registry audit verify` on the restored registry (timed) and row counts compared:
   agents, versions, audit events, artifacts; every artifact's bytes hashed again.

Prints seconds and sizes; exits 1 when a check fails. RTO is the restore plus the verify plus a
server start; RPO is the time since the last backup (a backup is one consistent snapshot).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.intake_bench import make_sidecars, post_all, service_token
from bench.registry_dataset import generate
from bench.registry_report import log
from bench.registry_setup import (
    Env,
    admin_token,
    bulk_load,
    child_env,
    run_cli,
    run_in_env,
    start_database,
    start_server,
    with_database,
)

COUNTED = ("agents", "agent_versions", "audit_events", "certificates", "policies")


async def register_with_artifacts(base: str, token: str, n: int, size: int) -> dict[str, str]:
    """``n`` agents with a random artifact each, through the API; agent id -> sha256."""
    import aiohttp
    import yaml

    from tests.api.conftest import make_spec

    sums: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(n):
            agent_id, blob = f"gl-backup-{i:03d}", os.urandom(size)
            form = aiohttp.FormData()
            form.add_field("spec", yaml.safe_dump(make_spec(agent_id=agent_id)), filename="a.yaml")
            form.add_field("artifact", blob, filename="agent.tar.gz")
            async with http.post(f"{base}/api/v1/agents", data=form) as r:
                if r.status != 201:
                    raise RuntimeError(f"register {agent_id}: {r.status} {await r.text()}")
            sums[agent_id] = hashlib.sha256(blob).hexdigest()
    return sums


async def counts(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in COUNTED}
    finally:
        await conn.close()


async def timed_cli(args: list[str], cenv: dict[str, str]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = await asyncio.to_thread(run_cli, args, cenv, 3600)
    took = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
    return took, out


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def restored_artifacts(data_dir: Path) -> set[str]:
    """sha256 of every file under the restored data dir's artifact store, hashed again."""
    found = set()
    for p in (data_dir / "artifacts").rglob("*"):
        if p.is_file():
            found.add(hashlib.sha256(p.read_bytes()).hexdigest())
    return found


async def run(args: argparse.Namespace, env: Env) -> int:
    import asyncpg

    await start_database(env)
    data_dir = env.root / "registry"
    data_dir.mkdir(parents=True)
    cenv = child_env(env, data_dir)
    admin = await admin_token(cenv)
    await bulk_load(env.db_url, generate(args.agents, seed=args.seed), with_outbox=False)
    service = await service_token(cenv)
    base, _ = await start_server(env, cenv, data_dir, 1, False)
    ids = [f"gl-backup-{i:03d}" for i in range(args.artifacts)]
    sums = await register_with_artifacts(base, admin, args.artifacts, args.artifact_mb << 20)
    out = await post_all(base, service, make_sidecars(args, ids or ["gl-bench-0"]), False)
    log(f"loaded: {out.stored} audit events, {len(sums)} artifacts of {args.artifact_mb} MiB")
    before = await counts(env.db_url)

    backup_dir = env.root / "backup"
    backup_s, _ = await timed_cli(["backup", "--output", str(backup_dir)], cenv)
    env.stop_server()

    target_db = f"{env.db_name}_restored"
    admin_conn = await asyncpg.connect(env.admin_url)
    try:
        await admin_conn.execute(f'CREATE DATABASE "{target_db}"')
    finally:
        await admin_conn.close()
    assert env.admin_url is not None
    restored_url = with_database(env.admin_url, target_db)
    restored_dir = env.root / "restored"
    renv = {**cenv, "GREENLANG_DATABASE_URL": restored_url, "GREENLANG_DATA_DIR": str(restored_dir)}
    restore_s, _ = await timed_cli(["restore", str(backup_dir)], renv)
    verify_s, verified = await timed_cli(["audit", "verify"], renv)
    after = await counts(restored_url)
    artifacts_ok = set(sums.values()) <= restored_artifacts(restored_dir)

    size = dir_bytes(backup_dir)
    log(f"{'backup (while serving)':<28} {backup_s:>8.1f} s   {size / 2**20:>8.1f} MiB")
    log(f"{'restore into empty':<28} {restore_s:>8.1f} s")
    log(f"{'audit verify (restored)':<28} {verify_s:>8.1f} s   {verified.stdout.strip()[:80]}")
    checks = [
        ("row counts equal", before == after, f"{before} vs {after}"),
        ("every artifact restored, sha256 equal", artifacts_ok, f"{len(sums)} artifacts"),
    ]
    for name, ok, detail in checks:
        log(f"{name:<40} {'ok' if ok else 'FAILED'}  ({detail})")
    return 0 if all(ok for _, ok, _ in checks) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=200_000, help="audit events (200000)")
    p.add_argument("--artifacts", type=int, default=20, help="agents with artifacts (20)")
    p.add_argument("--artifact-mb", type=int, default=1, help="MiB per artifact (1)")
    p.add_argument("--agents", type=int, default=500, help="bulk-loaded agents (500)")
    p.add_argument("--data-dir", help="parent for the temp dir; default $TMPDIR")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    args.sidecars, args.batch = 4, 200  # what make_sidecars reads
    if args.events < args.sidecars or args.artifacts < 1:
        p.error("--events must be >= 4 and --artifacts >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_env("glbackup-", args.data_dir, args.keep, lambda env: run(args, env))


if __name__ == "__main__":
    raise SystemExit(main())
