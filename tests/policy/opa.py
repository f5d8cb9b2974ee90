"""A real `opa run --server` on a free loopback port, loading files like `opa run PATH...`."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.support.servers import find_binary, free_port, log_tail


class OpaServer:
    """Start with `paths` loaded (Rego and JSON, directories allowed); `.url` when live.

    start() raises with the server's log tail if /health does not answer within `timeout`."""

    def __init__(self, paths: Sequence[Path | str], workdir: Path, timeout: float = 30.0) -> None:
        self.paths = [str(p) for p in paths]
        self.workdir = workdir
        self.timeout = timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "opa.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OpaServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = [
            find_binary("opa"),
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "error",
            *self.paths,
        ]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"opa exited with {self._proc.returncode}:\n{log_tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"opa not healthy after {self.timeout:.0f}s:\n{log_tail(self.log_path)}")

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

    def __enter__(self) -> OpaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
