"""The process deployer's OS layer: a pid is only ever adopted or signalled when its start time
matches the record, and stopping takes the whole process group."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from registry.deployments.processes import (
    exit_description,
    is_running,
    launch,
    log_tail,
    start_ticks,
    terminate,
)
from tests.support.polling import wait_until

T = TypeVar("T")


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the group: an orphan's zombie waits for init to reap it."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


async def test_a_reused_pid_is_neither_adopted_nor_killed(tmp_path: Path) -> None:
    rec = launch(["sleep", "60"], env=dict(os.environ), cwd=tmp_path, log_path=tmp_path / "l")
    try:
        assert is_running(rec) and os.getpgid(rec.pid) == rec.pid  # its own session
        impostor = replace(rec, start_ticks=rec.start_ticks + 1)
        assert not is_running(impostor)
        await terminate(impostor, grace_s=0.1)
        assert is_running(rec)
    finally:
        os.killpg(rec.pid, signal.SIGKILL)
    await wait_until(_async(lambda: not is_running(rec)), what="the kill")
    assert exit_description(rec) == (-9, "killed by SIGKILL")
    assert start_ticks(rec.pid) is None


async def test_terminate_stops_the_whole_group_and_escalates(tmp_path: Path) -> None:
    script = "trap '' TERM; sleep 60 & echo child $!; wait"  # ignores SIGTERM, has a child
    log = tmp_path / "log"
    rec = launch(["sh", "-c", script], env=dict(os.environ), cwd=tmp_path, log_path=log)
    line = await wait_until(_async(lambda: log_tail(log) if "child" in log_tail(log) else None))
    child = int(line.split()[1])
    await terminate(rec, grace_s=0.2)
    assert not is_running(rec) and group_members(rec.pid) == []
    assert start_ticks(child) is None
    assert exit_description(rec)[0] is None  # forgotten once stopped: no longer our child


def _async(check: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    async def probe() -> T:
        return check()

    return probe
