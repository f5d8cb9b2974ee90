"""The sidecar's audit spool on a disk that fills up (a real 2 MiB tmpfs): calls are refused
before an event could not be kept, every event taken is still in the spool, and calls are
accepted again once the disk has room (issue 14, "Fault tests")."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.app import spool_sink
from sidecar.audit_sink import SpoolAuditSink
from tests.sidecar.test_audit_spool import event as make_event


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"cannot mount a small tmpfs: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_calls_before_an_event_is_lost(small_disk: Path) -> None:
    sink: SpoolAuditSink = spool_sink(
        small_disk / "spool", "http://127.0.0.1:9", None, max_bytes=256 * 1024 * 1024
    )  # the spool's own bound is far away: the disk fills first
    sink.disk_room.ttl_s = 0  # check the disk on every call
    filler = small_disk / "other-files"
    filler.write_bytes(b"\0" * (700 * 1024))  # something else on the same volume
    taken = 0
    while sink.accepting():
        sink.record(make_event(taken, pad=1000))  # type: ignore[arg-type]
        taken += 1
        assert taken < 10_000, "the disk never filled"
    assert taken > 10
    assert sink.pending() == taken  # every admitted call's event is on disk
    assert sink.disk_room.free_bytes() > 0  # refused with room left: nothing was torn
    filler.unlink()
    assert sink.accepting()  # room again: calls are accepted
    sink.record(make_event(taken, pad=1000))  # type: ignore[arg-type]
    assert sink.pending() == taken + 1
