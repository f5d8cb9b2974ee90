"""Ships log lines to Elasticsearch's ``_bulk`` API (or anything that speaks it: OpenSearch).

Turned on by environment, so every process that calls :func:`kernel.logs.configure_logging`
(registry, sidecar, agent host) ships the same way:

* ``GREENLANG_LOG_SHIP_URL``: the cluster, ``http://host:9200`` (user:password@ in the URL is
  sent as HTTP basic auth). Unset: nothing is shipped, nothing is spooled.
* ``GREENLANG_LOG_SHIP_INDEX``: the index (default ``greenlang-logs``).
* ``GREENLANG_LOG_SHIP_DIR``: the spool directory (default
  ``$TMPDIR/greenlang-log-spool/<component>``; a second process of the same component takes
  ``<component>-1``, ... because a spool has one owner).
* ``GREENLANG_LOG_SHIP_MAX_BYTES``: the spool's bound (default 64 MiB).

Path of a line. :func:`offer` appends the rendered line to a :class:`kernel.spool.Spool` (one
``write(2)``, no network, never raises): the request path never waits for the cluster. The
spool's overflow is ``drop_oldest``: when the cluster is away long enough to fill it, the oldest
segment is dropped and the dropped lines are counted (:attr:`LogShipper.dropped`, and a
``log_spool_dropped`` warning that is itself shipped). One background thread reads batches,
POSTs them as ``create`` actions with the line's ``log_id`` as ``_id`` and commits a batch only
when every document in it was stored (``201``) or already there (``409``); anything else is
retried with exponential backoff and jitter (:func:`kernel.backoff.retry_delay`). A document the
cluster refuses for good (a ``4xx`` item such as a mapping conflict) is set aside in the spool's
``rejected/`` directory, not retried forever. Delivery is at-least-once; the ids make it
exactly-once in the index, across restarts of the process too (the spool is on disk).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import json
import os
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog

from kernel.backoff import retry_delay
from kernel.spool import Batch, MiB, Spool, SpoolLocked

DEFAULT_INDEX: Final = "greenlang-logs"
_ID_PREFIXES: Final = (b'{"log_id": "', b'{"log_id":"')  # JSONRenderer's, compact JSON's
#: Item statuses meaning "this document is in the index".
_STORED: Final = frozenset({200, 201, 409})
#: Item statuses worth retrying (the cluster is busy or unwell, not the document bad).
_TRANSIENT: Final = frozenset({408, 429})

_log = structlog.get_logger("kernel.log_shipper")
_local = threading.local()
_current: LogShipper | None = None


@dataclass(frozen=True)
class ShipConfig:
    url: str
    index: str = DEFAULT_INDEX
    directory: Path | None = None
    max_bytes: int = 64 * MiB

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ShipConfig | None:
        e = os.environ if env is None else env
        url = e.get("GREENLANG_LOG_SHIP_URL", "").strip()
        if not url:
            return None
        directory = e.get("GREENLANG_LOG_SHIP_DIR")
        return cls(
            url=url,
            index=e.get("GREENLANG_LOG_SHIP_INDEX", "").strip() or DEFAULT_INDEX,
            directory=Path(directory) if directory else None,
            max_bytes=int(e.get("GREENLANG_LOG_SHIP_MAX_BYTES") or 64 * MiB),
        )


def doc_id(line: bytes) -> str:
    """The document id of a spooled line: its ``log_id`` (rendered first by kernel.logs), else
    a hash of the line (the same line always gets the same id)."""
    for prefix in _ID_PREFIXES:
        if line.startswith(prefix):
            end = line.find(b'"', len(prefix))
            if end > len(prefix):
                return line[len(prefix) : end].decode("utf-8", "replace")
    return hashlib.sha256(line).hexdigest()[:32]


def bulk_body(index: str, lines: list[bytes]) -> bytes:
    """An NDJSON ``_bulk`` body: a ``create`` action with the line's id before each line."""
    parts: list[bytes] = []
    for line in lines:
        action = {"create": {"_index": index, "_id": doc_id(line)}}
        parts.append(json.dumps(action, separators=(",", ":")).encode())
        parts.append(line)
    return b"\n".join(parts) + b"\n"


class LogShipper:
    """A spool plus the thread that empties it into ``{url}/_bulk``; see the module docstring."""

    def __init__(
        self,
        spool: Spool,
        url: str,
        index: str = DEFAULT_INDEX,
        *,
        batch_size: int = 500,
        batch_bytes: int = 4 * MiB,
        interval_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urllib.parse.urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"log ship URL must be http(s)://host[:port], got {url!r}")
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.endpoint = urllib.parse.urlunsplit(
            (parts.scheme, netloc, parts.path + "/_bulk", "", "")
        )
        self._headers = {"Content-Type": "application/x-ndjson"}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            creds = f"{user}:{urllib.parse.unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        self.spool, self.index = spool, index
        self.batch_size, self.batch_bytes = batch_size, batch_bytes
        self.interval_s, self.max_backoff_s, self.timeout_s = interval_s, max_backoff_s, timeout_s
        self.shipped = self.duplicates = self.rejected = self.retries = 0
        self.last_error: str | None = None
        self._reported_drops = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def dropped(self) -> int:
        """Lines dropped because the spool was full (since this process opened it)."""
        return self.spool.dropped

    def append(self, line: bytes) -> None:
        self.spool.append_line(line)
        if self.spool.pending() >= self.batch_size:
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """One last attempt to deliver what is pending, then close the spool (what is left
        stays on disk for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.spool.close()

    def _run(self) -> None:
        failures = 0
        while True:
            stopping = self._stop.is_set()
            self._report_drops()
            try:
                outcome = self.ship_once()
            except Exception as exc:  # never let the thread die; the lines wait in the spool
                outcome, self.last_error = "retry", repr(exc)
            if stopping:
                return
            if outcome == "retry":
                if failures == 0:  # log the change, not every retry
                    _log.warning(
                        "log_ship_failed", error=self.last_error, pending=self.spool.pending()
                    )
                failures += 1
                self.retries += 1
                self._stop.wait(retry_delay(failures, self.interval_s, self.max_backoff_s))
                continue
            if failures:
                _log.info("log_ship_recovered", pending=self.spool.pending())
            failures = 0
            if outcome == "idle" or self.spool.pending() < self.batch_size:
                self._wake.wait(self.interval_s)
                self._wake.clear()
            with contextlib.suppress(Exception):
                self.spool.sync()

    def ship_once(self) -> str:
        """Send one batch. Returns "idle" (nothing pending), "ok" or "retry"."""
        batch = self.spool.read_batch(self.batch_size, self.batch_bytes)
        if batch.count == 0:
            return "idle"
        if batch.lines:
            try:
                answer = self._post(bulk_body(self.index, batch.lines))
            except (OSError, ValueError) as exc:
                self.last_error = repr(exc)
                return "retry"
            if not self._settle(batch, answer):
                return "retry"
        self.spool.commit(batch)
        return "ok"

    def _post(self, body: bytes) -> dict[str, Any]:
        req = urllib.request.Request(self.endpoint, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                answer: dict[str, Any] = json.loads(resp.read())
                return answer
        except urllib.error.HTTPError as exc:
            raise OSError(f"{self.endpoint} answered {exc.code}: {exc.read()[:300]!r}") from None

    def _settle(self, batch: Batch, answer: dict[str, Any]) -> bool:
        """Count the answer's items; True when the batch may be committed (every document is
        stored, or refused for good and set aside)."""
        items = [next(iter(i.values())) for i in answer.get("items", [])]
        if len(items) != len(batch.lines):
            self.last_error = f"_bulk answered {len(items)} items for {len(batch.lines)} lines"
            return False
        statuses = [int(i.get("status", 0)) for i in items]
        if any(s in _TRANSIENT or s >= 500 or s == 0 for s in statuses):
            self.last_error = f"_bulk item statuses {sorted(set(statuses))}"
            return False
        refused = [
            (line, i)
            for line, i, s in zip(batch.lines, items, statuses, strict=True)
            if s not in _STORED
        ]
        if refused:
            self.spool.set_aside(
                f"logs-{batch.first}",
                {
                    "reason": "refused by the cluster",
                    "errors": [i.get("error") for _, i in refused],
                },
                [_decoded(line) for line, _ in refused],
            )
            self.rejected += len(refused)
        self.duplicates += statuses.count(409)
        self.shipped += len(batch.lines) - len(refused)
        self.last_error = None
        return True

    def _report_drops(self) -> None:
        dropped = self.spool.dropped
        if dropped > self._reported_drops:
            _log.warning(
                "log_spool_dropped",
                dropped=dropped - self._reported_drops,
                dropped_total=dropped,
                detail="the log spool was full; the oldest lines were dropped",
            )
            self._reported_drops = dropped


def _decoded(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return line.decode("utf-8", "replace")


def offer(line: str) -> None:
    """Spool a rendered log line for shipping when shipping is on. Never raises, never blocks
    on the network; a line the shipper itself logs while appending is not spooled again."""
    shipper = _current
    if shipper is None or getattr(_local, "busy", False):
        return
    _local.busy = True
    try:
        shipper.append(line.encode("utf-8", "surrogatepass"))
    except Exception:  # a log line must never fail the code that logs it
        pass
    finally:
        _local.busy = False


def active() -> bool:
    return _current is not None


def open_spool(config: ShipConfig, component: str) -> Spool:
    """The spool for ``component``: its directory, or the next free ``-N`` sibling."""
    base = config.directory or Path(tempfile.gettempdir()) / "greenlang-log-spool" / component
    for n in range(64):
        directory = base if n == 0 else base.with_name(f"{base.name}-{n}")
        with contextlib.suppress(SpoolLocked):
            return Spool(
                directory,
                max_bytes=config.max_bytes,
                segment_bytes=max(4096, config.max_bytes // 16),
                name="log",
                overflow="drop_oldest",
            )
    raise SpoolLocked(f"no free log spool directory beside {base}")


def start(shipper: LogShipper) -> None:
    """Make ``shipper`` the process's shipper (stopping a previous one) and start it."""
    global _current
    stop()
    _current = shipper
    shipper.start()


def start_from_env(component: str) -> LogShipper | None:
    """Start shipping as the environment says, once per process (later calls keep it)."""
    if _current is not None:
        return _current
    config = ShipConfig.from_env()
    if config is None:
        return None
    shipper = LogShipper(open_spool(config, component), config.url, config.index)
    start(shipper)
    return shipper


def stop() -> None:
    """Stop the process's shipper (at exit: one last delivery attempt)."""
    global _current
    shipper, _current = _current, None
    if shipper is not None:
        shipper.stop()


atexit.register(stop)
