"""Start the real servers tests need (PostgreSQL, MinIO, OPA) on free loopback ports.

A server that cannot start fails the test; only Meilisearch may be skipped."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

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


class MinioServer:
    """A real `minio server` on free loopback ports, data and log in `workdir`.

    Use as a context manager or call start()/close(); start() raises with the server's log
    tail if it does not answer its liveness probe within `timeout` seconds."""

    def __init__(self, workdir: Path, timeout: float = 30.0) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self.access_key = "greenlang"
        self.secret_key = secrets.token_hex(16)
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.endpoint}"
        self.log_path = workdir / "minio.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MinioServer:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_UPDATE": "off",
        }
        cmd = [
            find_binary("minio"),
            "server",
            str(data),
            "--address",
            self.endpoint,
            "--console-address",
            f"127.0.0.1:{free_port()}",
        ]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_live()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_live(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"minio exited with {self._proc.returncode}:\n{log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/minio/health/live", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"minio not live after {self.timeout:.0f}s:\n{log_tail(self.log_path)}")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> MinioServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
