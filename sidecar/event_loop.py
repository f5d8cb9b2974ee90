"""Which asyncio event loop the sidecar runs on: uvloop when it is importable (``auto``), else
the standard library's. uvloop (libuv, Cython) runs the same aiohttp code with cheaper socket
and scheduling work; docs/sidecar.md, Performance, has the measured difference."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from typing import Final

from kernel.cli import CliError

LOOPS: Final = ("auto", "uvloop", "asyncio")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_factory(choice: str) -> LoopFactory | None:
    """The loop factory for ``--event-loop`` (None: asyncio's own). ``uvloop`` when it is not
    installed is a usage error, ``auto`` then falls back to asyncio."""
    if choice not in LOOPS:
        raise CliError(f"--event-loop must be one of {', '.join(LOOPS)}, got {choice!r}", 2)
    if choice == "asyncio" or (choice == "auto" and not uvloop_available()):
        return None
    try:
        import uvloop
    except ImportError as exc:
        raise CliError(f"--event-loop uvloop: uvloop cannot be imported ({exc})", 2) from None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what the started line reports."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
