"""Start the real servers tests need (PostgreSQL, MinIO, OPA) on free loopback ports.

A server that cannot start fails the test; only Meilisearch may be skipped."""

from __future__ import annotations

import abc
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Self

CACHE_BIN = Path(os.environ.get("GREENLANG_CACHE", Path.home() / ".cache" / "greenlang")) / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(name: str) -> str:
    """Locate a Go-built binary: $GREENLANG_<NAME>_BIN, the cache, then PATH."""
    explicit = os.environ.get(f"GREENLANG_{name.upper()}_BIN")
    candidates = [explicit, str(CACHE_BIN / name), shutil.which(name)]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError(f"{name} binary not found (run .ci/run or set GREENLANG_{name.upper()}_BIN)")


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"<no log: {e}>"


def sigterm_exit_code(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """Ask a process to stop as a supervisor would; its exit code (0 for a clean stop)."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


def reap(proc: subprocess.Popen[str]) -> None:
    """Teardown: kill what a failed test left running and collect its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


class ServerExited(RuntimeError):
    """The server process ended before it became ready."""

    def __init__(self, name: str, returncode: int, log: str) -> None:
        super().__init__(f"{name} exited with {returncode}:\n{log}")
        self.returncode = returncode
        self.log = log


class ServerProcess(abc.ABC):
    """A real server binary on a free loopback port, its log in `workdir`.

    start() waits (bounded by `timeout`) until `health_path` answers 200 and raises with the
    log tail otherwise; close() terminates, then kills. Usable as a context manager."""

    name = "server"
    health_path = "/health"

    def __init__(self, workdir: Path, timeout: float = 30.0) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{self.name}-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The argv that starts the server on `self.port`."""

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command(),
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def ready(self) -> bool:
        """Whether the server answers; an HTTP 200 on `health_path` unless overridden."""
        try:
            with urllib.request.urlopen(self.url + self.health_path, timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerExited(self.name, self._proc.returncode, log_tail(self.log_path))
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} not ready at {self.health_path} after {self.timeout:.0f}s:\n"
            + log_tail(self.log_path)
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> Self:
        # `with server.start():` must not start a second process (the first would leak)
        return self if self._proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MinioServer(ServerProcess):
    """A real `minio server`: `.endpoint` (host:port), `.url`, `.access_key`, `.secret_key`."""

    name = "minio"
    health_path = "/minio/health/live"

    def __init__(self, workdir: Path, timeout: float = 30.0) -> None:
        super().__init__(workdir, timeout)
        self.access_key = "greenlang"
        self.secret_key = secrets.token_hex(16)
        self.endpoint = f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        return [
            find_binary("minio"),
            "server",
            str(data),
            "--address",
            self.endpoint,
            "--console-address",
            f"127.0.0.1:{free_port()}",
        ]

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_UPDATE": "off",
        }


class OpaServerProcess(ServerProcess):
    """`opa run --server` on the free port; subclasses give `opa_args()` (paths, flags)."""

    name = "opa"
    log_level = "error"

    def opa_args(self) -> list[str]:
        return []

    def command(self) -> list[str]:
        return [
            find_binary("opa"),
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--skip-version-check",
            "--log-level",
            self.log_level,
            *self.opa_args(),
        ]
