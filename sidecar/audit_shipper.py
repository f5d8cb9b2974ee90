"""Ships audit events from the on-disk spool to the registry, in order, in batches.

One background task reads the next batch from :class:`~sidecar.audit_spool.AuditSpool`, POSTs
``{"events": [...]}`` to ``{registry}/api/v1/audit`` with the bearer token and commits the batch
only after a 2xx. Exactly one batch is in flight, so the registry sees events in spool order;
a batch that was delivered but not committed (crash, stop timeout) is sent again, and the
registry's idempotency on ``event_id`` stores it once.

Answers and what the shipper does:

* 2xx: commit, continue at once if a full batch is waiting, else wait for ``interval_s`` or
  :meth:`AuditShipper.notify`.
* connection error, timeout, 5xx, 408, 429 (and 401/403/404/405/409 — a wrong token, URL or an
  older registry is a configuration fault, not a bad batch): keep the batch and retry with
  exponential backoff and equal jitter (:func:`retry_delay`: a delay drawn from
  ``[cap/2, cap]``, ``cap = interval_s * 2**n`` capped at ``max_backoff_s``; ``Retry-After`` is
  honoured within the same cap). Events keep spooling meanwhile; when the
  spool is full the sidecar fails calls closed, it never drops events.
* 400, 413, 422 (the registry refuses the batch as invalid or too large): the batch is split in
  half and each half retried, so one bad event does not take its neighbours with it; a single
  refused event is moved to ``rejected/`` in the spool directory (kept, not lost), committed,
  and shipping continues. A batch refused for its size is split the same way.

File IO (reading a batch, JSON encoding it, cursor writes, periodic fsync of the spool) runs in
the default executor; appends stay on the event loop because they are a single small write.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import aiohttp
import structlog

from kernel.backoff import retry_delay
from sidecar.audit_spool import AuditSpool, Batch

log = structlog.get_logger("sidecar.audit_shipper")

T = TypeVar("T")

#: Answers meaning "this batch is invalid": split it, and reject a single event.
REFUSED: Final = frozenset({400, 413, 422})
#: Most events the registry takes in one request (its contract: 1..500).
MAX_BATCH: Final = 500


class AuditShipper:
    """Background delivery of spooled audit events; see the module docstring."""

    def __init__(
        self,
        spool: AuditSpool,
        registry_url: str,
        token: str | None,
        *,
        batch_size: int = 200,
        batch_bytes: int = 512 * 1024,
        interval_s: float = 1.0,
        session: aiohttp.ClientSession | None = None,
        max_backoff_s: float = 30,
        request_timeout_s: float = 10,
        sync_interval_s: float = 1.0,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH}")
        if interval_s <= 0 or max_backoff_s <= 0:
            raise ValueError("interval_s and max_backoff_s must be positive")
        self.spool = spool
        self.url = registry_url.rstrip("/") + "/api/v1/audit"
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.sync_interval_s = sync_interval_s
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._session = session
        self._own_session = session is None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._limit = batch_size  # shrinks while isolating a refused event
        self._last_sync = 0.0
        self._retry_after: float | None = None  # seconds from the last Retry-After
        self._failing = False
        self._delivered_until = spool.delivered
        # Counters (read by metrics and tests).
        self.shipped = 0  #: events the registry accepted (stored or duplicate)
        self.duplicates = 0  #: of those, events the registry already had
        self.batches = 0  #: successful requests
        self.retries = 0  #: failed attempts that will be retried
        self.rejected = 0  #: events moved to rejected/ (refused by the registry, or corrupt)
        self.last_error: str | None = None
        self.last_success: float | None = None  #: time.time() of the last accepted batch

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def delivered_until(self) -> int:
        """Every event with append ordinal below this number has been consumed (shipped or
        rejected); persisted in the spool's cursor, so it counts across restarts. Updated on
        the event loop together with the counters."""
        return self._delivered_until

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is not None:
            return
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="audit-shipper")

    async def stop(self, drain_timeout_s: float = 5) -> None:
        """Try to ship what is pending within ``drain_timeout_s``, then stop. Events not
        delivered stay in the spool for the next start."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), drain_timeout_s)
            except TimeoutError:
                task.cancel()
            except Exception:  # the loop never raises; be safe on shutdown anyway
                log.exception("audit_shipper_failed")
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # stop() itself was cancelled
            except Exception:
                log.exception("audit_shipper_failed")
            if self.spool.pending():
                log.warning("audit_events_left_in_spool", pending=self.spool.pending())
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        await _in_thread(self.spool.sync)

    def notify(self) -> None:
        """Wake the shipper early when a full batch is waiting (call after appends)."""
        if self.spool.pending() >= self._limit:
            self._wake.set()

    def submit(self, event: Mapping[str, Any]) -> None:
        """Append ``event`` to the spool and wake the shipper if a batch is full. Raises
        :class:`~sidecar.audit_spool.SpoolFull` when the spool is at its bound."""
        self.spool.append(event)
        self.notify()

    async def wait_delivered(self, ordinal: int, within_s: float) -> bool:
        """Wait until ``delivered_until >= ordinal``; False after ``within_s`` (tests, drains)."""
        deadline = time.monotonic() + within_s
        while self.delivered_until < ordinal:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            stopping = self._stopping.is_set()
            await self._maybe_sync()
            if self.spool.pending() == 0:
                if stopping:
                    return
                await self._sleep(self.interval_s, wake=True)
                continue
            try:
                outcome = await self._ship_one()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # spool IO error: keep the loop alive, back off
                log.exception("audit_shipper_error")
                self.last_error = repr(exc)
                outcome = "retry"
            if outcome == "retry":
                failures += 1
                self.retries += 1
                if stopping:
                    return  # one attempt on shutdown; the events wait in the spool
                await self._sleep(self._retry_delay(failures), wake=False)
                continue
            failures = 0
            if not stopping and self.spool.pending() < self._limit:
                await self._sleep(self.interval_s, wake=True)

    def _retry_delay(self, failures: int) -> float:
        hint, self._retry_after = self._retry_after, None
        return retry_delay(failures, self.interval_s, self.max_backoff_s, hint)

    async def _sleep(self, seconds: float, *, wake: bool) -> None:
        """Sleep, ended early by stop() and (if ``wake``) by notify()."""
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        self._wake.clear()

    async def _maybe_sync(self) -> None:
        now = time.monotonic()
        if self.spool.fsync and self.spool.dirty and now - self._last_sync >= self.sync_interval_s:
            self._last_sync = now
            await _in_thread(self.spool.sync)

    async def _ship_one(self) -> str:
        """Read, send and settle one batch. Returns "ok", "split", "rejected" or "retry"."""
        batch, body = await _in_thread(lambda: self._read(self._limit))
        if batch.count == 0:
            return "ok"
        if not batch.lines:  # only corrupt lines: nothing to send
            await _in_thread(lambda: self.spool.commit(batch))
            self.rejected += batch.count
            self._delivered_until = self.spool.delivered
            return "ok"
        assert self._session is not None
        try:
            async with self._session.post(
                self.url, data=body, headers=self._headers, timeout=self._timeout
            ) as resp:
                status = resp.status
                text = await resp.text(errors="replace")
                retry_after = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._fail(f"registry unreachable: {exc!r}")
            return "retry"
        if 200 <= status < 300:
            await _in_thread(lambda: self.spool.commit(batch))
            self._accepted(batch, text)
            self._delivered_until = self.spool.delivered
            if self._limit < self.batch_size:
                self._limit = min(self.batch_size, self._limit * 2)
            return "ok"
        if status in REFUSED:
            if len(batch.lines) > 1 or batch.corrupt:
                self._limit = max(1, len(batch.lines) // 2)
                log.warning(
                    "audit_batch_refused_splitting",
                    status=status,
                    events=len(batch.lines),
                    response=text[:500],
                )
                return "split"
            await _in_thread(lambda: self.spool.reject(batch, status=status, reason=text[:2000]))
            self.rejected += batch.count
            self._delivered_until = self.spool.delivered
            self.last_error = f"registry refused an event ({status}): {text[:200]}"
            self._limit = self.batch_size
            return "rejected"
        self._retry_after = _parse_retry_after(retry_after)
        self._fail(f"registry answered {status}: {text[:200]}")
        return "retry"

    def _read(self, limit: int) -> tuple[Batch, bytes]:
        batch = self.spool.read_batch(limit, self.batch_bytes)
        body = batch.payload()
        return batch, body

    def _accepted(self, batch: Batch, text: str) -> None:
        self.batches += 1
        self.shipped += len(batch.lines)
        self.rejected += len(batch.corrupt)
        self.last_success = time.time()
        if self._failing:
            self._failing = False
            log.info("audit_ship_recovered", pending=self.spool.pending())
        try:
            answer = json.loads(text)
            dup = int(answer.get("duplicates", 0))
            stored = int(answer.get("stored", len(batch.lines) - dup))
        except (ValueError, TypeError, AttributeError):
            return
        self.duplicates += dup
        if stored + dup != len(batch.lines):
            log.warning(
                "audit_batch_count_mismatch", sent=len(batch.lines), stored=stored, duplicates=dup
            )

    def _fail(self, error: str) -> None:
        if not self._failing or self.last_error != error:  # log changes, not every retry
            log.warning("audit_ship_failed", error=error, pending=self.spool.pending())
        self._failing = True
        self.last_error = error


def _parse_retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: the exponential backoff is good enough


async def _in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in the default executor and, even if cancelled, wait for it to finish so a
    commit is never half-observed by whoever closes the spool next."""
    fut = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        await asyncio.wait([fut])
        raise
