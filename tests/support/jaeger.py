"""A real Jaeger (v2 all-in-one, built by .ci/install.sh) on free loopback ports: in-memory
storage, an OTLP/HTTP receiver (``otlp_url``) and the query API (``url``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.servers import ServerProcess, find_binary, free_port

CONFIG = """\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info

extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{query_grpc_port}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000

receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}

processors:
  batch:
    timeout: 100ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


class JaegerProcess(ServerProcess):
    """``self.port``/``self.url``: the query API (``/api/traces/{id}``); ``otlp_url``: the
    OTLP/HTTP base URL (``/v1/traces`` appended by exporters)."""

    name = "jaeger"
    health_path = "/api/services"

    def __init__(self, workdir: Path, timeout: float = 60.0) -> None:
        super().__init__(workdir, timeout)
        self.otlp_port = free_port()
        self.otlp_url = f"http://127.0.0.1:{self.otlp_port}"
        self.config_path = workdir / f"jaeger-{self.port}.yaml"

    def command(self) -> list[str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            CONFIG.format(
                query_port=self.port, query_grpc_port=free_port(), otlp_port=self.otlp_port
            )
        )
        return [find_binary("jaeger"), "--config", str(self.config_path)]

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The traces Jaeger's query API answers for ``trace_id`` (empty while unknown)."""
        resp = httpx.get(f"{self.url}/api/traces/{trace_id}", timeout=5)
        if resp.status_code == 404:
            return []
        resp.raise_for_status()
        data: list[dict[str, Any]] = resp.json()["data"]
        return data
