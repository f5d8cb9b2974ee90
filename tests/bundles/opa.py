"""A real `opa run --server` on a free loopback port, for the bundle tests."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.support.servers import OpaServerProcess, ServerExited

T = TypeVar("T")


OpaExited = ServerExited  # OPA stopped before it became healthy; `.returncode`, `.log`


class OpaProcess(OpaServerProcess):
    """`opa run --server --addr 127.0.0.1:PORT <args>`; logs (JSON lines) go to `workdir`."""

    log_level = "debug"

    def __init__(
        self,
        workdir: Path,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        health_path: str = "/health",
        timeout: float = 30.0,
    ) -> None:
        super().__init__(workdir, timeout)
        self.args = list(args)
        self.env = dict(env or {})
        self.health_path = health_path

    def opa_args(self) -> list[str]:
        return ["--shutdown-grace-period", "1", *self.args]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def wait_exit(self, timeout: float = 20.0) -> int:
        """For an OPA expected to fail on its own: wait for its exit code (bounded)."""
        assert self._proc is not None
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise

    def start_expecting_exit(self, timeout: float = 20.0) -> int:
        """Start OPA and return its exit code; fails if it becomes healthy instead."""
        try:
            self.start()
        except OpaExited as e:
            return e.returncode
        self.close()
        raise AssertionError(f"opa became healthy but was expected to fail:\n{self.log()}")

    # -- API --------------------------------------------------------------------------------

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def query(self, path: str, input: Any = None) -> Any:
        """`POST /v1/data/<path>` → its `result` (None when undefined)."""
        status, body = self.request("POST", f"/v1/data/{path}", {"input": input or {}})
        assert status == 200, (status, body)
        return body.get("result")

    def get_data(self, path: str) -> tuple[int, Any]:
        return self.request("GET", f"/v1/data/{path}")


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
