"""A real `opa run --server` on a free loopback port, loading files like `opa run PATH...`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.support.servers import OpaServerProcess


class OpaServer(OpaServerProcess):
    """Start with `paths` loaded (Rego and JSON, directories allowed); `.url` when live."""

    def __init__(self, paths: Sequence[Path | str], workdir: Path, timeout: float = 30.0) -> None:
        super().__init__(workdir, timeout)
        self.paths = [str(p) for p in paths]

    def opa_args(self) -> list[str]:
        return self.paths
