"""One-line errors and exit codes for every GreenLang CLI: 2 bad input/usage, 1 server/network."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import httpx


class CliError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def read_file(path: str, what: str) -> bytes:
    """A file named on the command line; a missing or unreadable one is a usage error (2)."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror}", 2) from None


def run_cli(fn: Callable[[], int]) -> int:
    try:
        return fn()
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except httpx.HTTPError as exc:
        print(f"error: cannot reach the registry: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
