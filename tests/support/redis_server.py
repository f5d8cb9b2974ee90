"""A real ``redis-server`` (Debian's package) on a free loopback port: no persistence, its files
in a temp dir. `stop` and `start` again keep the port, to play a store outage and recovery."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from tests.support.servers import ServerProcess


class RedisServer(ServerProcess):
    name = "redis"

    def __init__(self, workdir: Path, timeout: float = 30.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        super().__init__(workdir, timeout)
        self.binary = binary
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
        ]  # fmt: skip

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """The outage: the process ends; `start` brings it back on the same port."""
        self.close()
