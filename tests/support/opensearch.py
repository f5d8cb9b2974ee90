"""A real OpenSearch (Elasticsearch's ``_bulk``/``_search`` API) for the log-shipping tests.

``OpenSearchNode`` runs ``shared/tools/opensearch/start.sh`` (beside the repo, or beside a
parent of it for a worktree; ``$GREENLANG_OPENSEARCH_TOOLS`` overrides) in a private state dir
on a fixed free port, so it can be stopped and started again at the same URL (the data dir is
kept: "the cluster was down for a while"). If it cannot start, the test fails: no skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def _tools() -> Path:
    if os.environ.get("GREENLANG_OPENSEARCH_TOOLS"):
        return Path(os.environ["GREENLANG_OPENSEARCH_TOOLS"])
    found = (p / "shared" / "tools" / "opensearch" for p in REPO.parents)
    return next((d for d in found if d.is_dir()), REPO.parent / "shared" / "tools" / "opensearch")


TOOLS = _tools()


class OpenSearchNode:
    """A single node; ``.url`` is fixed for its life (restarts keep the port and the data)."""

    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="gl-opensearch-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        proc = subprocess.run(
            ["bash", str(TOOLS / "start.sh"), str(self.state)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "OPENSEARCH_HTTP_PORT": str(self.port)},
        )
        if proc.returncode != 0 or proc.stdout.strip() != self.url:
            raise RuntimeError(f"OpenSearch did not start ({TOOLS}/start.sh):\n{proc.stderr}")
        return self

    def stop(self) -> None:
        stop = self.state / "stop.sh"
        if stop.exists():
            subprocess.run(["bash", str(stop)], check=False, timeout=60)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)

    def version(self) -> str:
        return str(self.request("GET", "/")["version"]["number"])

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def exists(self, index: str) -> bool:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{self.url}/{index}", method="HEAD"))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def search(
        self, index: str, query: dict[str, Any] | None = None, size: int = 1000
    ) -> list[Any]:
        """Every document of ``index`` (refreshed first) matching ``query``."""
        self.request("POST", f"/{index}/_refresh")
        body = {"size": size, "query": query or {"match_all": {}}}
        hits = self.request("POST", f"/{index}/_search", body)["hits"]["hits"]
        return [h["_source"] | {"_id": h["_id"]} for h in hits]

    def count(self, index: str) -> int:
        self.request("POST", f"/{index}/_refresh")
        return int(self.request("GET", f"/{index}/_count")["count"])

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
