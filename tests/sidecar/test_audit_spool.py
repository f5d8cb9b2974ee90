"""AuditSpool on real files: order across segments, bound, restart, torn lines, corruption, lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sidecar.audit_spool import (
    AuditSpool,
    Batch,
    Position,
    SpoolError,
    SpoolFull,
    SpoolLocked,
    encode_event,
)

ROOT = Path(__file__).resolve().parents[2]


def event(n: int, pad: int = 0) -> dict[str, object]:
    return {"event_id": f"00000000-0000-4000-8000-{n:012d}", "n": n, "pad": "x" * pad}


def drain(spool: AuditSpool, batch: int = 7) -> list[int]:
    got: list[int] = []
    while True:
        b = spool.read_batch(batch)
        if not b.count:
            return got
        got.extend(int(e["n"]) for e in b.events)
        spool.commit(b)


def segments(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("segment-*.jsonl"))


def test_in_order_across_segments_and_cleanup(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, segment_bytes=2000, fsync=False) as spool:
        for i in range(500):
            spool.append(event(i))
        assert spool.pending() == 500
        assert len(segments(tmp_path)) > 10
        assert spool.size_bytes() == sum(p.stat().st_size for p in tmp_path.glob("segment-*"))
        assert drain(spool, batch=13) == list(range(500))
        assert spool.pending() == 0
        assert spool.delivered == 500
        # Caught up: every delivered segment is gone, the active one is fresh and empty.
        assert len(segments(tmp_path)) == 1
        assert spool.size_bytes() == 0
        spool.append(event(500))
        assert drain(spool) == [500]


def test_read_does_not_consume_and_commits_are_ordered_and_single(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, fsync=False) as spool:
        for i in range(10):
            spool.append(event(i))
        a = spool.read_batch(4)
        assert spool.read_batch(4) == a
        assert [e["n"] for e in a.events] == [0, 1, 2, 3]
        assert spool.pending() == 10
        spool.commit(a)
        with pytest.raises(SpoolError, match="only once"):
            spool.commit(a)
        b = spool.read_batch(3)
        assert b.first == 4
        assert [e["n"] for e in b.events] == [4, 5, 6]
        spool.commit(b)
        assert spool.pending() == 3


def test_batch_byte_bound(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, fsync=False) as spool:
        for i in range(10):
            spool.append(event(i, pad=1000))
        b = spool.read_batch(100, max_bytes=3500)
        assert b.count == 3 and b.nbytes <= 3500
        spool.commit(b)
        big = spool.read_batch(100, max_bytes=10)  # one line larger than the budget
        assert [e["n"] for e in big.events] == [3]


def test_resume_at_cursor_after_restart(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, segment_bytes=500, fsync=False)
    for i in range(100):
        spool.append(event(i))
    for _ in range(3):
        spool.commit(spool.read_batch(10))
    spool.close()

    spool = AuditSpool(tmp_path, segment_bytes=500, fsync=False)
    assert spool.pending() == 70
    assert spool.delivered == 30
    spool.append(event(100))
    assert drain(spool) == list(range(30, 101))
    spool.close()


def test_uncommitted_batch_is_redelivered_after_restart(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, fsync=False)
    for i in range(5):
        spool.append(event(i))
    spool.read_batch(5)  # shipped, but the process died before commit
    spool.close()
    with AuditSpool(tmp_path, fsync=False) as spool:
        assert drain(spool) == [0, 1, 2, 3, 4]


def test_torn_last_line_is_truncated_on_open(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, fsync=False)
    for i in range(5):
        spool.append(event(i))
    spool.close()
    last = tmp_path / segments(tmp_path)[-1]
    with open(last, "ab") as f:  # what a crash in the middle of write(2) leaves
        f.write(encode_event(event(5))[:17])
    size = last.stat().st_size

    with AuditSpool(tmp_path, fsync=False) as spool:
        assert last.stat().st_size < size
        assert last.read_bytes().endswith(b"\n")
        assert spool.pending() == 5
        spool.append(event(6))
        assert drain(spool) == [0, 1, 2, 3, 4, 6]
        assert spool.rejected_files() == []


def test_process_killed_while_appending(tmp_path: Path) -> None:
    """SIGKILL a real process in its append loop: every complete event survives, in order."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from sidecar.audit_spool import AuditSpool
        spool = AuditSpool({str(tmp_path)!r}, segment_bytes=4096, fsync=False)
        print("ready", flush=True)
        n = 0
        while True:
            spool.append({{"event_id": str(n), "n": n, "pad": "y" * (n % 300)}})
            n += 1
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    with AuditSpool(tmp_path, segment_bytes=4096, fsync=False) as spool:
        n = spool.pending()
        assert n > 100
        assert drain(spool, batch=500) == list(range(n))


def test_corrupt_line_is_quarantined_not_fatal(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, fsync=False)
    spool.append(event(0))
    spool.close()
    seg = tmp_path / segments(tmp_path)[-1]
    with open(seg, "ab") as f:  # zeros a power cut can leave behind, then a complete line
        f.write(b"\x00" * 40 + b"\n" + b"[1, 2]\n")
    with AuditSpool(tmp_path, fsync=False) as spool:
        spool.append(event(1))
        b = spool.read_batch(10)
        assert [e["n"] for e in b.events] == [0, 1]
        assert b.corrupt == [b"\x00" * 40, b"[1, 2]"]
        assert b.count == 4
        spool.commit(b)
        assert spool.pending() == 0
        [kept] = spool.rejected_files()
        assert json.loads(kept.read_text())["events"] == ["\x00" * 40, [1, 2]]


def test_unreadable_cursor_restarts_at_oldest_segment(tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path, fsync=False)
    for i in range(4):
        spool.append(event(i))
    spool.commit(spool.read_batch(2))
    spool.close()
    (tmp_path / "cursor.json").write_text("{not json")
    with AuditSpool(tmp_path, fsync=False) as spool:
        # At-least-once: the registry dedupes the two resent events by event_id.
        assert drain(spool) == [0, 1, 2, 3]


def test_spool_full_refuses_without_losing_what_it_took(tmp_path: Path) -> None:
    line = len(encode_event(event(0, pad=100)))
    with AuditSpool(tmp_path, max_bytes=line * 25 + 10, segment_bytes=line * 4, fsync=False) as sp:
        accepted = 0
        with pytest.raises(SpoolFull, match="full"):
            for i in range(100):
                sp.append(event(i, pad=100))
                accepted += 1
        sizes = [len(encode_event(event(i, pad=100))) for i in range(accepted + 1)]
        assert sum(sizes[:-1]) <= sp.max_bytes < sum(sizes)  # refused exactly at the bound
        assert accepted > 20
        assert sp.pending() == accepted
        assert sp.size_bytes() <= sp.max_bytes
        with pytest.raises(SpoolFull):
            sp.append(event(999, pad=100))  # still full: refused again, nothing written
        assert sp.pending() == accepted
        # Delivering frees whole segments; then appends succeed again.
        first = sp.read_batch(8)
        sp.commit(first)
        sp.append(event(accepted, pad=100))
        assert [e["n"] for e in first.events] + drain(sp) == list(range(accepted + 1))
        with pytest.raises(SpoolFull, match="exceeds"):
            sp.append(event(0, pad=line * 30))


def test_event_must_be_json(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, fsync=False) as spool:
        with pytest.raises(ValueError):
            spool.append({"latency_ms": float("nan")})
        with pytest.raises(TypeError):
            spool.append({"when": object()})
        with pytest.raises(TypeError):
            spool.append(["not", "a", "dict"])  # type: ignore[arg-type]
        assert spool.pending() == 0
        assert spool.size_bytes() == 0


def test_reject_moves_batch_to_rejected_dir(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, fsync=False) as spool:
        for i in range(3):
            spool.append(event(i))
        path = spool.reject(spool.read_batch(2), status=400, reason="bad event")
        doc = json.loads(path.read_text())
        assert doc["status"] == 400 and doc["reason"] == "bad event"
        assert [e["n"] for e in doc["events"]] == [0, 1]
        assert drain(spool) == [2]


def test_lock_held_by_another_spool(tmp_path: Path) -> None:
    first = AuditSpool(tmp_path, fsync=False)
    with pytest.raises(SpoolLocked, match=rf"in use by another process \(pid {os.getpid()}\)"):
        AuditSpool(tmp_path, fsync=False)
    first.append(event(0))  # the refused opener changed nothing
    first.close()
    with AuditSpool(tmp_path, fsync=False) as again:
        assert again.pending() == 1


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from sidecar.audit_spool import AuditSpool
        spool = AuditSpool({str(tmp_path)!r}, fsync=False)
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == b"ready"
        with pytest.raises(SpoolLocked, match=f"pid {child.pid}"):
            AuditSpool(tmp_path, fsync=False)
        child.stdin.close()
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    AuditSpool(tmp_path, fsync=False).close()  # released when the owner exits


def test_fsync_mode_round_trip(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, segment_bytes=300) as spool:
        for i in range(20):
            spool.append(event(i))
        assert spool.dirty
        spool.sync()
        assert not spool.dirty
        assert drain(spool) == list(range(20))
    assert json.loads((tmp_path / "cursor.json").read_text())["delivered"] == 20


def test_empty_batch_and_positions(tmp_path: Path) -> None:
    with AuditSpool(tmp_path, fsync=False) as spool:
        b = spool.read_batch(10)
        assert isinstance(b, Batch) and b.count == 0 and not b.events
        spool.commit(b)  # committing nothing is a no-op
        assert isinstance(spool.cursor, Position)
        with pytest.raises(ValueError):
            spool.read_batch(0)
    with pytest.raises(SpoolError, match="closed"):
        spool.append(event(0))
