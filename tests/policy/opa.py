"""A real `opa run --server` on a free loopback port, loading files like `opa run PATH...`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.support.servers import ServerProcess, find_binary


class OpaServer(ServerProcess):
    """Start with `paths` loaded (Rego and JSON, directories allowed); `.url` when live."""

    name = "opa"

    def __init__(self, paths: Sequence[Path | str], workdir: Path, timeout: float = 30.0) -> None:
        super().__init__(workdir, timeout)
        self.paths = [str(p) for p in paths]

    def command(self) -> list[str]:
        return [
            find_binary("opa"),
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "error",
            *self.paths,
        ]
