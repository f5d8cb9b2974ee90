"""Looking at the processes a test started from outside, as an operator would (no deployer
state): by a path their command lines name."""

from __future__ import annotations

from pathlib import Path


def pids_naming(path: Path) -> set[int]:
    """Live (not zombie) processes whose command line names ``path`` (artifact, spool dir)."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(path).encode() in cmdline and state != "Z":
            found.add(int(proc.name))
    return found
