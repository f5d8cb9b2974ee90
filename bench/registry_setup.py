"""Setting the registry bench up and tearing it down: PostgreSQL, the database, the server
subprocess, the bulk load; `Env` undoes everything in reverse order."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.registry_dataset import AGENT_COLS, CERT_COLS, USAGE_COLS, VERSION_COLS, Dataset
from bench.registry_report import log

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


def spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a long-running child in its own session: Ctrl-C reaches the bench only, which
    then stops the child in order."""
    with log_path.open("wb") as out:
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def run_cli(
    args: list[str], env: dict[str, str], limit_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli(), *args], env=env, capture_output=True, text=True, timeout=limit_s, check=False
    )


def cli() -> list[str]:
    exe = shutil.which("greenlang-registry")
    return [exe] if exe else [sys.executable, "-m", "registry.cli.main"]


@dataclass
class Env:
    """Everything started by the bench; close() undoes it in reverse order, idempotently."""

    root: Path
    keep: bool = False
    pg_handle: Any = None
    admin_url: str | None = None  # maintenance connection to the server
    db_name: str | None = None
    drop_db: bool = False
    db_url: str = ""
    server: subprocess.Popen[bytes] | None = None
    server_log: Path | None = None
    meili: Any = None  # tests.support.meili.MeiliServer when --search-backend meili
    closed: bool = False

    def stop_server(self) -> None:
        proc, self.server = self.server, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        steps: list[tuple[str, Callable[[], None]]] = [
            ("server", self.stop_server),
            ("database", self._drop_database),
            ("meilisearch", lambda: self.meili.close() if self.meili else None),
            ("postgres", lambda: self.pg_handle.cleanup() if self.pg_handle else None),
            ("temp dir", self._remove_root),
        ]
        for what, step in steps:
            try:
                step()
            except BaseException as exc:  # keep tearing down the rest
                print(f"cleanup of {what} failed: {exc!r}", file=sys.stderr)

    def _drop_database(self) -> None:
        if not (self.drop_db and self.admin_url and self.db_name):
            return
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(drop())

    def _remove_root(self) -> None:
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


async def bulk_load(db_url: str, ds: Dataset, with_outbox: bool) -> float:
    import asyncpg

    t0 = time.perf_counter()
    conn = await asyncpg.connect(db_url)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("agents", records=ds.agents, columns=AGENT_COLS)
            await conn.copy_records_to_table(
                "agent_versions", records=ds.versions, columns=VERSION_COLS
            )
            await conn.copy_records_to_table(
                "certificates", records=ds.certificates, columns=CERT_COLS
            )
            await conn.copy_records_to_table("agent_usage", records=ds.usage, columns=USAGE_COLS)
            if with_outbox:
                await conn.copy_records_to_table(
                    "search_outbox", records=[(a,) for a in ds.agent_ids], columns=["agent_id"]
                )
    finally:
        await conn.close()
    return time.perf_counter() - t0


def wait_http(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not healthy after {timeout:.0f}s:\n{tail(log_path)}")


async def wait_until(
    probe: Callable[[], Awaitable[bool]], limit_s: float, what: str, interval: float = 0.05
) -> float:
    t0 = time.perf_counter()
    while not await probe():
        if time.perf_counter() - t0 > limit_s:
            raise RuntimeError(f"timed out after {limit_s:.0f}s waiting for {what}")
        await asyncio.sleep(interval)
    return time.perf_counter() - t0


async def start_database(env: Env) -> int | None:
    """PostgreSQL (embedded, or a fresh database on $GREENLANG_DATABASE_URL); its pid if ours."""
    import asyncpg

    from registry.store.embedded import start_embedded_postgres

    t = time.perf_counter()
    external = os.environ.get("GREENLANG_DATABASE_URL")
    if external:
        env.admin_url, env.db_name, env.drop_db = external, f"glbench_{secrets.token_hex(4)}", True
    else:
        env.admin_url, env.pg_handle = start_embedded_postgres(env.root / "pg", cleanup="delete")
        env.db_name = "glbench"
    admin = await asyncpg.connect(env.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{env.db_name}"')
        pg_version = await admin.fetchval("SHOW server_version")
        settings = await admin.fetch(
            "SELECT name, setting, unit FROM pg_settings WHERE name IN "
            "('shared_buffers', 'max_connections', 'synchronous_commit', 'fsync', 'jit')"
        )
    finally:
        await admin.close()
    env.db_url = with_database(env.admin_url, env.db_name)
    log(
        f"PostgreSQL {pg_version} ({'external' if external else 'embedded'}) ready in "
        f"{time.perf_counter() - t:.1f}s; "
        + ", ".join(f"{r['name']}={r['setting']}{r['unit'] or ''}" for r in settings)
    )
    return env.pg_handle.get_pid() if env.pg_handle else None


def child_env(env: Env, data_dir: Path) -> dict[str, str]:
    """The environment of the registry CLI and server: this checkout, the bench database."""
    out = {
        **os.environ,
        "GREENLANG_DATABASE_URL": env.db_url,
        "GREENLANG_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    out.pop("GREENLANG_SEARCH_URL", None)  # the Postgres index is what we measure
    return out


async def admin_token(cenv: dict[str, str]) -> str:
    """Migrates and creates an admin token with `greenlang-registry token create`."""
    t = time.perf_counter()
    created = await asyncio.to_thread(
        run_cli, ["token", "create", "--role", "admin", "--name", "bench-admin"], cenv, 120
    )
    if created.returncode != 0:
        raise RuntimeError(f"token create failed ({created.returncode}):\n{created.stderr}")
    log(f"migrated + admin token via `greenlang-registry token create` in "
        f"{time.perf_counter() - t:.1f}s")  # fmt: skip
    return created.stdout.strip().splitlines()[-1]


async def reindex(cenv: dict[str, str]) -> float:
    t = time.perf_counter()
    out = await asyncio.to_thread(run_cli, ["reindex"], cenv, 300)
    if out.returncode != 0:
        raise RuntimeError(f"reindex failed:\n{out.stderr}\n{out.stdout}")
    took = time.perf_counter() - t
    log(f"`greenlang-registry reindex`: {out.stdout.strip().splitlines()[-1]} in {took:.1f}s")
    return took


async def start_server(
    env: Env, cenv: dict[str, str], data_dir: Path, workers: int, profile: bool
) -> tuple[str, float]:
    """`greenlang-registry serve` (under cProfile when `profile`): its base URL, seconds to
    healthy."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env.server_log = env.root / "server.log"
    serve_args = ["--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
    cmd = [*cli(), "serve", *serve_args]
    if profile:
        profiled = ["-m", "cProfile", "-o", str(env.root / "server.prof")]
        cmd = [sys.executable, *profiled, "-m", "registry.cli.main", "serve", *serve_args]
    t = time.perf_counter()
    env.server = spawn(cmd, cenv, env.server_log)
    await asyncio.to_thread(wait_http, f"{base}/healthz", env.server, env.server_log, 60)
    ready = time.perf_counter() - t
    log(f"server pid {env.server.pid} healthy on {base} after {ready:.1f}s"
        + (" (under cProfile)" if profile else ""))  # fmt: skip
    return base, ready


def start_meili(env: Env) -> dict[str, str]:
    """A Meilisearch for the registry (tests' fixture server, in the bench's temp dir); the
    environment that points the registry at it."""
    from tests.support.meili import MeiliServer, meili_binary

    binary = meili_binary()
    if binary is None:
        raise RuntimeError("--search-backend meili: no meilisearch binary (../shared/bin)")
    env.meili = MeiliServer(binary, env.root / "meili").start()
    log(f"meilisearch {binary} pid {env.meili.pid} on {env.meili.url}")
    return {"GREENLANG_SEARCH_URL": env.meili.url, "GREENLANG_MEILI_KEY": env.meili.key}


async def wait_indexed(pool: Any, agents: int, meili: Any = None) -> float:
    """Seconds until the outbox relay has indexed every agent (in Meilisearch when given)."""

    async def indexed() -> bool:
        left = await pool.fetchval("SELECT count(*) FROM search_outbox")
        if meili is not None:
            return bool(left == 0 and await asyncio.to_thread(meili.documents, "agents") >= agents)
        docs = await pool.fetchval("SELECT count(*) FROM search_documents")
        return bool(left == 0 and docs >= agents)

    return await wait_until(indexed, 240, "the search index")


def run_in_env(
    prefix: str,
    data_dir: str | None,
    keep: bool,
    run: Callable[[Env], Coroutine[Any, Any, int]],
) -> int:
    """A bench's main: a temp dir (under `data_dir`), `run(env)` on a fresh event loop, and the
    cleanup of everything it started on success, error, Ctrl-C or SIGTERM."""
    parent = Path(data_dir).expanduser().resolve() if data_dir else None
    if parent:
        parent.mkdir(parents=True, exist_ok=True)
    env = Env(root=Path(tempfile.mkdtemp(prefix=prefix, dir=parent)), keep=keep)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return asyncio.run(run(env))
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    except Exception:
        if env.server_log is not None:
            print(f"server log tail:\n{tail(env.server_log)}", file=sys.stderr)
        raise
    finally:
        env.close()
