"""`greenlang-registry serve` with the example agents, as the scale run and the soak start it:
its own data dir and caller JWT secret under a temp root, the `process` deployer, and tokens
made with `greenlang-registry token create`."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import jwt

from bench.registry_setup import REPO_ROOT, cli, free_port, run_cli, spawn, wait_http
from bench.scale_fleet import EXAMPLES, FleetError


class FleetRegistry:
    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        self.data = root / "data"
        self.secret = secrets.token_bytes(32)  # callers' JWTs, what deployed sidecars check
        secret_file = root / "jwt.secret"
        secret_file.write_bytes(self.secret)
        secret_file.chmod(0o600)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = os.environ | {
            "GREENLANG_JWT_SECRET_FILE": str(secret_file),
            "GREENLANG_DATA_DIR": str(self.data),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.getenv("PYTHONPATH")])),
            **env,
        }
        self.registry: subprocess.Popen[bytes] | None = None
        self.restarts = 0  # starts after the first: each gets its own log

    def token(self, name: str, role: str) -> str:
        done = run_cli(["token", "create", "--role", role, "--name", name], self.env, 120)
        if done.returncode != 0:
            raise FleetError(f"token create: {done.stderr.strip()}")
        return done.stdout.strip().splitlines()[-1]

    def start_registry(self) -> None:
        log = self.root / f"registry-{self.restarts}.log"
        self.restarts += 1
        argv = [
            "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--seed", str(EXAMPLES), "--deployer", "process",
        ]  # fmt: skip
        self.registry = spawn([*cli(), *argv], self.env, log)
        wait_http(f"{self.base}/healthz", self.registry, log, 120)

    def stop_registry(self) -> None:
        proc, self.registry = self.registry, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(60)


def caller_token(
    secret: bytes, sub: str, roles: tuple[str, ...] = ("operator",), ttl_s: int = 86400
) -> str:
    """A caller's HS256 JWT, signed with the secret the deployed sidecars check."""
    claims = {"sub": sub, "roles": list(roles), "team": "bench", "exp": int(time.time()) + ttl_s}
    return jwt.encode(claims, secret, algorithm="HS256")
