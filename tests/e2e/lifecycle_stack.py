"""What the lifecycle end-to-end tests share: `greenlang-registry serve --deployer X` with a
caller JWT secret of the test's, a user driving the `greenlang-lifecycle` CLI and the API, and
the clean-up that leaves no instance behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from registry.deployments.wiring import registry_label
from tests.e2e.stack import RegistryProcess, python_env
from tests.support import docker_engine
from tests.support.polling import wait_until
from tests.support.processes import pids_naming

SECRET = b"lifecycle-e2e-secret-" + b"z" * 32


class Serve(RegistryProcess):
    """`greenlang-registry serve --deployer X` with a caller JWT secret file of the test's."""

    def __init__(self, workdir: Path, database_url: str, deployer: str) -> None:
        super().__init__(workdir, database_url)
        self.deployer = deployer
        self.secret_file = workdir / "jwt.secret"
        workdir.mkdir(parents=True, exist_ok=True)
        self.secret_file.write_bytes(SECRET)
        self.data = workdir / "data"

    def command(self) -> list[str]:
        # Docker containers reach the registry through the bridge, not on its loopback.
        host = ["--host", "0.0.0.0"] if self.deployer == "docker" else []
        return [*super().command(), "--deployer", self.deployer, *host]

    def environment(self) -> dict[str, str]:
        return super().environment() | {
            "GREENLANG_JWT_SECRET_FILE": str(self.secret_file),
            "GREENLANG_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",  # the test's webhook receiver
        }


@dataclass
class User:
    serve: Serve
    admin: str
    approver: str

    async def cli(self, *args: str, who: str = "admin") -> tuple[int, str, str]:
        """`greenlang-lifecycle ARGS` with the user's environment."""
        token = self.admin if who == "admin" else self.approver
        env = python_env(GREENLANG_REGISTRY_URL=self.serve.url, GREENLANG_TOKEN=token)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "registry.cli.lifecycle",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 400)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *args: str, who: str = "admin") -> str:
        code, out, err = await self.cli(*args, who=who)
        assert code == 0, (args, out, err)
        return out

    def api(self) -> httpx.AsyncClient:
        auth = {"Authorization": f"Bearer {self.admin}"}
        return httpx.AsyncClient(base_url=self.serve.url + "/api/v1", headers=auth, timeout=30)

    async def deployment(self, deployment_id: str) -> dict[str, Any]:
        async with self.api() as http:
            r = await http.get(f"/deployments/{deployment_id}")
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        return doc

    async def wait_status(self, deployment_id: str, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            d = await self.deployment(deployment_id)
            return d if d["status"] == status else None

        return await wait_until(probe, limit=180, what=f"{deployment_id} {status}")


def caller_jwt(sub: str = "carla") -> str:
    claims = {"sub": sub, "roles": ["operator"], "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def cleanup(serve: Serve) -> None:
    serve.close()
    for pid in pids_naming(serve.data):
        os.kill(pid, signal.SIGKILL)
    if serve.deployer == "docker":
        label = f"greenlang.namespace={registry_label(serve.data)}"
        for c in docker_engine.engine().containers.list(all=True, filters={"label": label}):
            c.remove(force=True)
