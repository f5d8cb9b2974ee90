"""Durable, bounded on-disk FIFO of JSON lines: the write-ahead queue of the sidecar's audit
events (:mod:`sidecar.audit_shipper`) and of shipped log lines (:mod:`kernel.log_shipper`).

Every event is appended here first and shipped from here, so an outage of the receiver only
makes the queue longer. What happens when the bound is reached is the owner's choice
(``overflow``): audit refuses the event (``"refuse"``, the caller fails the call), logs drop
the oldest segment and count what they dropped (``"drop_oldest"``, see *Bound*).

Layout of the spool directory (one process owns it; see *Locking*)::

    lock                       flock(2)-held for the lifetime of the AuditSpool; holds the pid
    segment-000000000001.jsonl one compact JSON event per line, appended in order
    segment-000000000002.jsonl ...
    cursor.json                {"segment": 1, "offset": 4096, "delivered": 123}
    rejected/                  events the registry refused, and lines that cannot be events

Write path. :meth:`AuditSpool.append` encodes the event (compact JSON, ``allow_nan=False`` so an
event the registry could not parse is refused at the caller, not later in a batch) and hands the
line to the kernel with one ``write(2)`` on an ``O_APPEND`` descriptor: there is no user-space
buffer, so a crash of the *process* after ``append`` returns loses nothing. Surviving a crash of
the *machine* needs ``fsync``: with ``fsync=True`` (default) :meth:`AuditSpool.sync` flushes the
active segment and the shipper calls it off the event loop about once per shipping interval, so a
power cut loses at most that interval of events; cursor updates are fsynced before they replace
the old cursor. ``fsync=False`` turns both off (tests, benchmarks, tmpfs).

Read path. The reader keeps a persisted cursor (segment number + byte offset, written to a temp
file and ``os.replace``-d). :meth:`AuditSpool.read_batch` returns the next events after the cursor
without consuming them; :meth:`AuditSpool.commit` advances the cursor and deletes segments that
are fully delivered. When the reader catches up with the writer, the active segment is rotated
and deleted too, so an idle spool holds no delivered events on disk. A batch must be committed
in order and only once (commit checks that it starts at the cursor), so the spool itself never
hands out an event twice; delivery is at-least-once only across a crash between the registry's
answer and the cursor write, and the registry's idempotent ``event_id`` turns that into exactly
once.

Bound. ``max_bytes`` bounds the bytes of segment files on disk (undelivered events plus the
delivered head of the oldest segment, which is at most one segment). With ``overflow="refuse"``
(audit) an append that would pass it raises :class:`SpoolFull` and writes nothing: the caller
must fail the call (the sidecar answers 503) rather than drop the event. With
``overflow="drop_oldest"`` (logs) the append never fails for space: whole segments are dropped
from the head (oldest first, the active one rotated first when it is the only one) until the
line fits, their undelivered lines are added to :attr:`Spool.dropped`, and a batch the reader
holds over dropped lines commits what is left of it (see :meth:`Spool.commit`).

Recovery on open. Segments are scanned once (``bytes.count`` of newlines, ~GB/s) to know the
number of pending events. A torn last line (crash in the middle of ``write``, or a power cut
that left the tail unwritten) is truncated away. Damage inside a segment never poisons the
queue: a complete line that cannot be an event (not ``{...}``, or holding NUL bytes such as the
zeros a power cut leaves on some filesystems) is handed out in ``Batch.corrupt`` and copied to
``rejected/`` when its batch is committed; a line that looks like an object but is not valid
JSON is refused by the registry and isolated by the shipper's bisection. Lines are not parsed
on the read path (see :class:`Batch`). A missing or unreadable cursor restarts at the oldest
segment (redelivery, deduplicated by the registry).

Threads. ``append`` runs on the event loop (a few microseconds); ``read_batch``, ``commit`` and
``sync`` may run in an executor thread. All shared state is guarded by one ``threading.Lock``
held only for bookkeeping and the single ``write``; the shipper is the only reader.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

import structlog

log = structlog.get_logger("kernel.spool")

MiB: Final = 1024 * 1024
_SEGMENT_RE: Final = re.compile(r"^segment-(\d{12})\.jsonl$")
_CURSOR: Final = "cursor.json"
_LOCK: Final = "lock"
REJECTED_DIR: Final = "rejected"
_READ_CHUNK: Final = 256 * 1024


class SpoolError(RuntimeError):
    """Base class of the spool's own errors."""


class SpoolFull(SpoolError):
    """Accepting the event would exceed the spool's byte bound; nothing was written."""


class SpoolLocked(SpoolError):
    """Another AuditSpool (in this or another process) owns the directory."""


class Position(NamedTuple):
    """A place in the spool: segment number and byte offset (always at a line start)."""

    segment: int
    offset: int


@dataclass(frozen=True)
class Batch:
    """Events read from the spool, not yet consumed. Commit it (or reject it) to consume it.

    ``lines`` are the events in order as the spool stores them (compact JSON objects, no
    newline); ``corrupt`` are complete lines in the same range that cannot be events (kept for
    ``rejected/``, never shipped). ``count`` is the number of spool lines the batch covers,
    ``nbytes`` their size; ``first`` is the ordinal of its first line (lines consumed before).

    The lines are shipped as they are (:meth:`payload`): decoding and re-encoding every event
    would cost ~10 µs of interpreter time per event, and the GIL makes that time the event
    loop's even in an executor thread."""

    start: Position
    end: Position
    lines: list[bytes] = field(default_factory=list)
    corrupt: list[bytes] = field(default_factory=list)
    count: int = 0
    nbytes: int = 0
    first: int = 0

    def __len__(self) -> int:
        return self.count

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events decoded (for tests and the rejected/ files; shipping uses payload())."""
        return [json.loads(line) for line in self.lines]

    def payload(self) -> bytes:
        """The registry intake's request body, ``{"events":[...]}``, built from the lines."""
        return b'{"events":[' + b",".join(self.lines) + b"]}"


def _segment_name(seq: int) -> str:
    return f"segment-{seq:012d}.jsonl"


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One spool line: compact JSON, no raw newline (JSON escapes them), newline-terminated."""
    if not isinstance(event, dict):
        raise TypeError(f"an audit event must be a dict, got {type(event).__name__}")
    return json.dumps(event, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _decoded(line: bytes) -> Any:
    """A spool line for a rejected/ file: the event when it parses, else the text."""
    try:
        return json.loads(line)
    except ValueError:
        return line.decode("utf-8", "replace")


class Spool:
    """A durable FIFO of JSON events in ``directory``; see the module docstring."""

    def __init__(
        self,
        directory: Path | str,
        *,
        max_bytes: int = 256 * MiB,
        segment_bytes: int = 4 * MiB,
        fsync: bool = True,
        name: str = "audit",
        overflow: str = "refuse",
    ) -> None:
        if segment_bytes <= 0 or max_bytes <= 0:
            raise ValueError("max_bytes and segment_bytes must be positive")
        if overflow not in ("refuse", "drop_oldest"):
            raise ValueError(f"overflow must be 'refuse' or 'drop_oldest', not {overflow!r}")
        self.name = name
        self.overflow = overflow
        self.dropped = 0  # lines dropped for space since this Spool was opened (drop_oldest)
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max_bytes)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._closed = False
        self._dirty = False  # appended since the last sync()
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / REJECTED_DIR).mkdir(exist_ok=True)
        self._lock_fd = self._acquire_dir_lock()
        try:
            self._recover()
        except BaseException:
            os.close(self._lock_fd)
            raise

    # -- opening -------------------------------------------------------------------------------

    def _acquire_dir_lock(self) -> int:
        path = self.directory / _LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            try:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise SpoolLocked(
                f"{self.name} spool {self.directory} is in use by another process (pid {holder}); "
                "give each process its own spool directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _recover(self) -> None:
        seqs = sorted(
            int(m.group(1))
            for p in self.directory.iterdir()
            if (m := _SEGMENT_RE.match(p.name)) and p.is_file()
        )
        saved, delivered = self._load_cursor()
        if saved is not None:
            # Segments before the cursor were delivered (a crash came between cursor and unlink).
            for seq in [s for s in seqs if s < saved.segment]:
                self._path(seq).unlink(missing_ok=True)
            seqs = [s for s in seqs if s >= saved.segment]
        self._sizes: dict[int, int] = {}
        for seq in seqs:
            self._sizes[seq] = self._path(seq).stat().st_size
            # Every segment ends at a line boundary from here on (only the last one can be
            # torn after a process crash; older ones only after a power cut without fsync).
            self._sizes[seq] = self._truncate_torn_tail(seq)
        cursor: Position | None = None
        if saved is not None and saved.segment in self._sizes:
            cursor = self._sane_offset(saved)
        elif seqs:  # no cursor, or its segment is gone: start at the oldest remaining one
            cursor = Position(seqs[0], 0)
        self._pending = 0
        for seq in seqs:
            start = cursor.offset if cursor is not None and seq == cursor.segment else 0
            self._pending += self._count_lines(seq, start)
        # Append to a fresh segment; the old ones are only read from now on.
        self._active = max([*seqs, saved.segment if saved is not None else 0]) + 1
        self._open_active()
        self._total = sum(self._sizes.values())
        self._cursor = cursor if cursor is not None else Position(self._active, 0)
        self._delivered = delivered
        self._write_cursor(self._cursor, self._delivered)
        if self._pending:
            log.info(
                f"{self.name}_spool_resumed",
                directory=str(self.directory),
                pending=self._pending,
                bytes=self._total,
            )

    def _load_cursor(self) -> tuple[Position | None, int]:
        try:
            raw = json.loads((self.directory / _CURSOR).read_bytes())
            pos = Position(int(raw["segment"]), int(raw["offset"]))
            delivered = int(raw.get("delivered", 0))
            if pos.segment < 0 or pos.offset < 0 or delivered < 0:
                raise ValueError("negative cursor field")
            return pos, delivered
        except FileNotFoundError:
            return None, 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                f"{self.name}_spool_cursor_unreadable",
                directory=str(self.directory),
                error=repr(exc),
                detail="restarting at the oldest segment; the registry deduplicates resends",
            )
            return None, 0

    def _sane_offset(self, cursor: Position) -> Position:
        size = self._sizes[cursor.segment]
        if cursor.offset > size:
            log.warning(
                f"{self.name}_spool_cursor_past_end", segment=cursor.segment, offset=cursor.offset
            )
            return Position(cursor.segment, size)
        if cursor.offset == 0:
            return cursor
        with open(self._path(cursor.segment), "rb") as f:
            f.seek(cursor.offset - 1)
            if f.read(1) == b"\n":
                return cursor
            # Not at a line start (should not happen): resume after the line it points into.
            rest = f.read()
        nl = rest.find(b"\n")
        return Position(cursor.segment, size if nl < 0 else cursor.offset + nl + 1)

    def _truncate_torn_tail(self, seq: int) -> int:
        path = self._path(seq)
        size = self._sizes[seq]
        if size == 0:
            return 0
        with open(path, "r+b") as f:
            end = size
            while end > 0:
                start = max(0, end - _READ_CHUNK)
                f.seek(start)
                chunk = f.read(end - start)
                nl = chunk.rfind(b"\n")
                if nl >= 0:
                    keep = start + nl + 1
                    break
                end = start
            else:
                keep = 0
            if keep != size:
                log.warning(
                    f"{self.name}_spool_torn_tail_truncated",
                    segment=path.name,
                    dropped_bytes=size - keep,
                )
                f.truncate(keep)
        return keep

    def _count_lines(self, seq: int, start: int) -> int:
        n = 0
        with open(self._path(seq), "rb") as f:
            f.seek(start)
            while chunk := f.read(4 * MiB):
                n += chunk.count(b"\n")
        return n

    # -- helpers -------------------------------------------------------------------------------

    def _path(self, seq: int) -> Path:
        return self.directory / _segment_name(seq)

    def _open_active(self) -> None:
        path = self._path(self._active)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._write_pos = os.fstat(self._fd).st_size
        self._sizes[self._active] = self._write_pos

    def _rotate_locked(self) -> None:
        old_fd = self._fd
        self._active += 1
        self._open_active()
        os.close(old_fd)

    def _write_cursor(self, pos: Position, delivered: int, *, sync: bool = True) -> None:
        tmp = self.directory / (_CURSOR + ".tmp")
        data = json.dumps(
            {"segment": pos.segment, "offset": pos.offset, "delivered": delivered}
        ).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            if self.fsync and sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / _CURSOR)

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolError(f"{self.name} spool {self.directory} is closed")

    # -- public API ----------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any]) -> None:
        """Append one event (durable against a process crash once this returns).

        Raises :class:`SpoolFull` when the bound would be exceeded (nothing is written),
        ``TypeError``/``ValueError`` when the event is not JSON-encodable."""
        self._append(encode_event(event))

    def append_line(self, line: bytes) -> None:
        """Append one line that is already a compact JSON object (``{...}``, no newline), as a
        JSON renderer produced it: saves decoding and re-encoding it. Same bound as append."""
        if line[:1] != b"{" or line[-1:] != b"}" or b"\n" in line or b"\x00" in line:
            raise ValueError("a spool line is one JSON object without newlines")
        self._append(line + b"\n")

    def _append(self, line: bytes) -> None:
        n = len(line)
        with self._lock:
            self._check_open()
            if n > self.max_bytes:
                raise SpoolFull(f"an event of {n} bytes exceeds the spool's {self.max_bytes}")
            if self._total + n > self.max_bytes and self.overflow == "drop_oldest":
                self._drop_oldest_locked(n)
            if self._total + n > self.max_bytes:
                raise SpoolFull(
                    f"{self.name} spool {self.directory} is full ({self._total} of "
                    f"{self.max_bytes} bytes): the receiver has not accepted events for a while"
                )
            if self._write_pos and self._write_pos + n > self.segment_bytes:
                self._rotate_locked()
            written = 0
            try:
                while written < n:
                    written += os.write(self._fd, line[written:] if written else line)
            except OSError as exc:
                # Never leave a torn line behind for the next append to glue onto.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._write_pos)
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise SpoolFull(f"audit spool {self.directory}: disk full ({exc})") from exc
                raise
            self._write_pos += n
            self._sizes[self._active] = self._write_pos
            self._total += n
            self._pending += 1
            self._dirty = True

    def _drop_oldest_locked(self, needed: int) -> None:
        """Delete head segments until ``needed`` more bytes fit (the caller holds the lock).
        The cursor moves to the next segment's start; no fsync (appends stay cheap): a crash
        before the next cursor write resends nothing that is gone, it only re-counts nothing."""
        while self._total + needed > self.max_bytes:
            if len(self._sizes) == 1:
                if self._write_pos == 0:
                    return  # an empty active segment: nothing left to drop
                self._rotate_locked()
            head = min(self._sizes)
            start = self._cursor.offset if self._cursor.segment == head else 0
            if self._cursor.segment <= head:
                lost = self._count_lines(head, start)
                self._pending -= lost
                self._delivered += lost
                self.dropped += lost
                self._cursor = Position(min(s for s in self._sizes if s > head), 0)
            self._total -= self._sizes.pop(head)
            self._path(head).unlink(missing_ok=True)
        self._write_cursor(self._cursor, self._delivered, sync=False)

    def read_batch(self, max_events: int, max_bytes: int = 512 * 1024) -> Batch:
        """The next events after the cursor, in order, without consuming them.

        At most ``max_events`` lines and, unless a single line is larger, at most ``max_bytes``
        bytes. An empty batch means there is nothing to ship."""
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        with self._lock:
            self._check_open()
            start = self._cursor
            first = self._delivered
        pos = start
        good: list[bytes] = []
        corrupt: list[bytes] = []
        count = nbytes = 0
        while count < max_events:
            with self._lock:
                end = self._sizes.get(pos.segment)
                later = [s for s in self._sizes if s > pos.segment]
                sealed = pos.segment != self._active
            if end is None or (pos.offset >= end and sealed):
                if not later:
                    break
                pos = Position(min(later), 0)
                continue
            if pos.offset >= end:
                break  # caught up with the writer
            budget = max(0, max_bytes - nbytes)
            if budget == 0 and count:
                break
            with open(self._path(pos.segment), "rb") as f:
                f.seek(pos.offset)
                data = f.read(min(end - pos.offset, max(budget, 1)))
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # a single line longer than the budget
                    if count:
                        break
                    data += f.read(end - pos.offset - len(data))
                    cut = data.find(b"\n") + 1
                    if cut == 0:  # unterminated (recovery prevents it): quarantine, never stall
                        data += b"\n"
                        cut = len(data)
            lines = data[:cut].split(b"\n")[:-1][: max_events - count]
            for raw in lines:
                # Lines come from encode_event, so an object's braces are a cheap plausibility
                # check that catches what crashes leave (zeros, fragments). A line damaged in
                # between is refused by the registry and set aside by the shipper's bisection.
                if raw[:1] == b"{" and raw[-1:] == b"}" and b"\x00" not in raw:
                    good.append(raw)
                else:
                    corrupt.append(raw)
                used = len(raw) + 1
                count += 1
                nbytes += used
                pos = Position(pos.segment, pos.offset + used)
        return Batch(start, pos, good, corrupt, count, nbytes, first)

    def commit(self, batch: Batch) -> None:
        """Consume ``batch``: move its corrupt lines to ``rejected/``, advance the cursor, and
        delete segments that are now fully delivered. Batches commit in order, once each."""
        if batch.corrupt:
            self._write_rejected(
                f"corrupt-{batch.first}",
                {"reason": "spool lines that cannot be events (damaged on disk)"},
                [_decoded(line) for line in batch.corrupt],
            )
        self._advance(batch)

    def reject(self, batch: Batch, *, status: int | None = None, reason: str = "") -> Path:
        """Consume ``batch`` without delivering it: its events go to a file in ``rejected/``
        (kept, not lost) and the cursor moves past them. Returns that file."""
        path = self._write_rejected(
            f"batch-{batch.first}",
            {"status": status, "reason": reason},
            [*map(_decoded, batch.lines), *map(_decoded, batch.corrupt)],
        )
        self._advance(batch)
        return path

    def set_aside(self, stem: str, meta: dict[str, Any], items: list[Any]) -> Path:
        """Keep ``items`` (not delivered, not to be retried) in a file in ``rejected/``."""
        return self._write_rejected(stem, meta, items)

    def _write_rejected(self, stem: str, meta: dict[str, Any], items: list[Any]) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.directory / REJECTED_DIR / f"{stamp}-{stem}.json"
        doc = {"rejected_at": stamp, **meta, "events": items}
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps(doc).encode())
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        log.warning(f"{self.name}_spool_rejected", file=str(path), events=len(items), **meta)
        return path

    def _advance(self, batch: Batch) -> None:
        if batch.count == 0:
            return
        with self._lock:
            self._check_open()
            if batch.start != self._cursor and self._skipped_by_drop(batch):
                return
            if batch.start != self._cursor:
                raise SpoolError(
                    f"batch starts at {tuple(batch.start)} but the cursor is at "
                    f"{tuple(self._cursor)}: batches commit in order and only once"
                )
            new = batch.end
            while new.segment != self._active and new.offset >= self._sizes.get(new.segment, 0):
                new = Position(min(s for s in self._sizes if s > new.segment), 0)
            rotated = new.segment == self._active and new.offset >= self._write_pos > 0
            if rotated:  # caught up with the writer: start a new segment, drop this one
                self._rotate_locked()
                new = Position(self._active, 0)
        delivered = self._delivered + batch.count
        # Outside the lock (an fsync must not stall appends on the event loop). Cursor first,
        # then unlink: a crash in between leaves segments the cursor has passed, which the next
        # open deletes.
        self._write_cursor(new, delivered)
        with self._lock:
            self._cursor = new
            self._delivered = delivered
            self._pending -= batch.count
            dead = [(s, n) for s, n in self._sizes.items() if s < new.segment]
            for seq, n in dead:
                del self._sizes[seq]
                self._total -= n
        for seq, _ in dead:
            self._path(seq).unlink(missing_ok=True)
        if rotated and self.fsync:
            self._sync_dir()

    def _skipped_by_drop(self, batch: Batch) -> bool:
        """For a batch read before segments under it were dropped (lock held): consume what is
        left of it, up to its end, and say so; False when no drop explains the mismatch."""
        if self.overflow != "drop_oldest" or not batch.start < self._cursor:
            return False
        if batch.end > self._cursor:
            rest = self._cursor
            left = 0
            for seq in sorted(s for s in self._sizes if rest.segment <= s <= batch.end.segment):
                start = rest.offset if seq == rest.segment else 0
                stop = batch.end.offset if seq == batch.end.segment else self._sizes[seq]
                with open(self._path(seq), "rb") as f:
                    f.seek(start)
                    left += f.read(max(0, stop - start)).count(b"\n")
            self._pending -= left
            self._delivered += left
            self._cursor = batch.end
        self._write_cursor(self._cursor, self._delivered)
        return True

    def sync(self) -> None:
        """fsync the active segment (and the directory) if anything was appended since the
        last sync. A no-op with ``fsync=False``. Safe to call from an executor thread."""
        if not self.fsync:
            return
        with self._lock:
            if self._closed or not self._dirty:
                return
            self._dirty = False
            fd = os.dup(self._fd)  # rotation may close self._fd while we fsync
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._sync_dir()

    def _sync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> int:
        """Events appended and not yet committed (including corrupt lines awaiting rejection)."""
        return self._pending

    @property
    def delivered(self) -> int:
        """Events consumed (shipped or rejected) over the spool's whole life, persisted in the
        cursor: every event with append ordinal below this number has been consumed."""
        return self._delivered

    @property
    def cursor(self) -> Position:
        return self._cursor

    @property
    def dirty(self) -> bool:
        return self._dirty

    def size_bytes(self) -> int:
        """Bytes of segment files on disk (what ``max_bytes`` bounds)."""
        return self._total

    def rejected_files(self) -> list[Path]:
        return sorted((self.directory / REJECTED_DIR).glob("*.json"))

    def close(self) -> None:
        """Flush to disk (with ``fsync=True``), close files and release the directory lock."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self.fsync and self._dirty:
                    os.fsync(self._fd)
            finally:
                os.close(self._fd)
                os.close(self._lock_fd)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
