"""Local OS processes the ``process`` deployer starts, recognises again and stops.

Each process leads its own session (``start_new_session``), so it outlives the controller and
its whole group can be signalled. A process is recognised by its pid *and* its start time
(``/proc/<pid>/stat`` field 22, clock ticks since boot): a pid the kernel reused for another
program never matches, so it is never adopted or killed by mistake.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    """What is stored to find a started process again."""

    pid: int
    start_ticks: int
    started_at: float  # wall-clock seconds, for uptime


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks, or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_running(record: ProcessRecord) -> bool:
    CHILDREN.poll(record.pid)  # reap it if it is our exited child, so it is not a zombie
    return start_ticks(record.pid) == record.start_ticks


class ChildTable:
    """The processes this OS process started: the only ones whose exit code can be known.

    Module-wide, not per deployer: a second deployer object in the same process (a restarted
    controller in tests) still learns how the first one's children ended."""

    def __init__(self) -> None:
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def add(self, proc: subprocess.Popen[bytes]) -> None:
        self._procs[proc.pid] = proc

    def poll(self, pid: int) -> int | None:
        proc = self._procs.get(pid)
        return None if proc is None else proc.poll()

    def forget(self, pid: int) -> None:
        """Drop an ended child (a pid that runs again is another process, maybe another child)."""
        proc = self._procs.get(pid)
        if proc is not None and proc.poll() is not None:
            del self._procs[pid]


CHILDREN = ChildTable()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now; the process that binds it a moment later almost always gets it,
    and one that does not exits and is restarted like any crash."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def launch(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path
) -> ProcessRecord:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log_path``."""
    with log_path.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting {argv[0]}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    CHILDREN.add(proc)
    ticks = start_ticks(proc.pid)
    if ticks is None:  # exited already: remember it by a start time no process has
        ticks = -1
    return ProcessRecord(pid=proc.pid, start_ticks=ticks, started_at=time.time())


def exit_description(record: ProcessRecord) -> tuple[int | None, str]:
    """How a process that is no longer running ended: its exit code when it was our child."""
    code = CHILDREN.poll(record.pid)
    if code is None:
        return None, "exited (exit code unknown: not started by this controller)"
    if code < 0:
        return code, f"killed by {signal.Signals(-code).name}"
    return code, f"exited with code {code}"


async def terminate(record: ProcessRecord, grace_s: float) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace_s``; no-op unless it is ours."""
    if not is_running(record):
        CHILDREN.forget(record.pid)
        return
    _signal_group(record.pid, signal.SIGTERM)
    if not await _ended(record, grace_s):
        _signal_group(record.pid, signal.SIGKILL)
        await _ended(record, 10.0)
    _signal_group(record.pid, signal.SIGKILL)  # what the leader left behind in its group
    CHILDREN.forget(record.pid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


async def _ended(record: ProcessRecord, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while is_running(record):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def log_tail(path: Path, limit: int = 300) -> str:
    """The last non-empty line of a log (e.g. the agent host's one-line ``error: ...``)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    last = lines[-1].strip() if lines else ""
    return "" if last.startswith("--- ") else last[:limit]
