"""A real ``redis-server`` (Debian's package) on a free loopback port: no persistence, its files
in a temp dir. `stop` and `start` again keep the port, to play a store outage and recovery."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.servers import free_port, log_tail


class RedisServer:
    def __init__(self, workdir: Path, timeout: float = 30.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.binary, self.workdir, self.timeout = binary, workdir, timeout
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = workdir / f"redis-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        self._proc = subprocess.Popen(argv, cwd=self.workdir)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{log_tail(self.log_path)}")
            if self._ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server not ready:\n{log_tail(self.log_path)}")

    def stop(self) -> None:
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
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
