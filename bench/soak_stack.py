"""The soak run's servers, each stoppable on its own: an embedded PostgreSQL, the registry
(`greenlang-registry serve --seed examples/agents --deployer process`) and an OPA that pulls the
registry's bundle for the agents deployed to the OPA environment (GREENLANG_SIDECAR_ENGINE)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from bench.fleet_registry import FleetRegistry
from bench.registry_setup import free_port, run_cli, spawn, wait_http
from bench.scale_fleet import _flag, leftover_processes

OPA_ENVIRONMENT = "staging"  # the soak deploys its OPA agents there; the rest to production


class Stack(FleetRegistry):
    def __init__(self, root: Path) -> None:
        self.opa_port = free_port()
        self.opa_url = f"http://127.0.0.1:{self.opa_port}"
        super().__init__(root, GREENLANG_SIDECAR_ENGINE=f"{OPA_ENVIRONMENT}={self.opa_url}")
        self.pg: Any = None
        self.opa: subprocess.Popen[bytes] | None = None

    # --- PostgreSQL -----------------------------------------------------------------------

    def start_postgres(self) -> None:
        from registry.store.embedded import start_embedded_postgres

        url, self.pg = start_embedded_postgres(self.root / "pg", cleanup="delete")
        self.env["GREENLANG_DATABASE_URL"] = url

    def stop_postgres(self, mode: str = "fast") -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pg.pgdata, user=self.pg.system_user)

    def resume_postgres(self) -> None:
        self.pg.ensure_postgres_running()  # same socket directory, so the same URL

    # --- registry -------------------------------------------------------------------------

    def audit_verify(self) -> tuple[int, str]:
        done = run_cli(["audit", "verify"], self.env, 600)
        return done.returncode, (done.stdout + done.stderr).strip()

    # --- OPA ------------------------------------------------------------------------------

    def start_opa(self, token: str) -> None:
        from bundles.testing import find_opa

        config = self.root / "opa-config.yaml"
        key = self.root / "bundle-verification.pem"  # OPA verifies the registry's signed bundles
        with urllib.request.urlopen(f"{self.base}/bundle-verification-key", timeout=30) as r:
            key.write_bytes(r.read())
        config.write_text(
            "keys:\n  greenlang:\n    algorithm: RS256\n"
            "services:\n  registry:\n"
            f"    url: {self.base}/api/v1\n"
            '    credentials:\n      bearer:\n        token: "${GREENLANG_REGISTRY_TOKEN}"\n'
            "bundles:\n  greenlang:\n    service: registry\n    resource: bundles/greenlang\n"
            "    signing: {keyid: greenlang}\n"
            "    polling: {min_delay_seconds: 2, max_delay_seconds: 4}\n"
        )
        argv = [
            find_opa(), "run", "--server", "--addr", f"127.0.0.1:{self.opa_port}",
            "--config-file", str(config), "--log-level", "error",
            "--set-file", f"keys.greenlang.key={key}",
        ]  # fmt: skip
        env = self.env | {"GREENLANG_REGISTRY_TOKEN": token}
        self.opa = spawn(argv, env, self.root / "opa.log")
        # ready (with ?bundles) once the registry's bundle is activated
        wait_http(f"{self.opa_url}/health?bundles", self.opa, self.root / "opa.log", 120)

    def kill_opa(self) -> None:
        if self.opa is not None and self.opa.poll() is None:
            self.opa.send_signal(signal.SIGKILL)
            self.opa.wait(30)

    # --- the deployed processes -----------------------------------------------------------

    def instance_pids(self, agent_id: str) -> dict[str, int]:
        """role ("agent" | "sidecar") -> pid of the running processes of `agent_id`'s instance:
        the sidecar by its --agent-id, the agent by the port the sidecar forwards to."""
        procs = [(p, p.info["cmdline"] or []) for p in leftover_processes(self.root)]
        out: dict[str, int] = {}
        port = None
        for proc, cmd in procs:
            if "sidecar.cli" in cmd and _flag(cmd, "--agent-id") == agent_id:
                out["sidecar"] = proc.pid
                port = (_flag(cmd, "--upstream") or "").rsplit(":", 1)[-1]
        for proc, cmd in procs:
            if "agent_sdk.host" in cmd and port and _flag(cmd, "--port") == port:
                out["agent"] = proc.pid
        return out

    def close(self) -> None:
        self.kill_opa()
        try:
            if self.pg is not None:
                self.resume_postgres()  # a clean stop of the registry needs its database
        except Exception:  # tearing down whatever is left
            pass
        self.stop_registry()
        for proc in leftover_processes(self.root):  # deployed instances outlive the registry
            try:
                proc.kill()
            except psutil.Error:
                pass
        if self.pg is not None:
            try:  # restarted, the server has another pid than the one cleanup() knows
                self.stop_postgres("immediate")
            except Exception:  # already stopped
                pass
            try:
                self.pg.cleanup()
            except Exception:  # what it could not stop is stopped above; the dir goes below
                pass


def remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
