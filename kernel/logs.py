"""structlog JSON lines to stdout: the one logging setup of every GreenLang process (registry,
sidecar, CLIs that log).

One JSON object per line: ``timestamp`` (ISO 8601, UTC), ``level``, ``event``, ``logger`` (when
the logger was named, ``structlog.get_logger("registry.api")``), the call's key/values and
whatever the request pipeline bound with ``structlog.contextvars.bind_contextvars(request_id=...,
trace_id=...)`` (a key given in the call wins over a bound one). Records of the standard
``logging`` module (aiohttp, OpenTelemetry's exporter, ...) come out in the same shape.

Lines go to whatever ``sys.stdout`` is at write time, so replacing stdout (tests capturing it)
never leaves a logger writing to a closed stream. The bound logger class is
``structlog.make_filtering_bound_logger(level)``: a message below the level is a no-op method
(about 1.6 µs through a module-level ``structlog.get_logger()`` proxy, 0.1 µs on a logger bound
with ``.bind()``; an emitted line about 8 µs). Loggers are not cached on first use, so calling
:func:`configure_logging` again (another level) applies to every proxy at once.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, Final

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

_write_lock = threading.Lock()


class StdoutLogger:
    """structlog's final logger: writes each rendered line to the current ``sys.stdout``."""

    __slots__ = ("name",)

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        line = message + "\n"
        with _write_lock:
            out = sys.stdout
            out.write(line)
            out.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def _logger_factory(*args: Any) -> StdoutLogger:
    return StdoutLogger(args[0] if args and isinstance(args[0], str) else None)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name and "logger" not in event_dict:
        event_dict["logger"] = name
    return event_dict


class _StdoutHandler(logging.Handler):
    """Root handler for standard-library records, rendered like structlog's."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            with _write_lock:
                sys.stdout.write(line)
                sys.stdout.flush()
        except Exception:
            self.handleError(record)


def parse_level(level: str | int) -> int:
    """``"info"``/``"INFO"``/``20`` -> 20; ValueError for anything else."""
    if isinstance(level, int):
        if level in LEVELS.values():
            return level
    else:
        found = LEVELS.get(level.strip().lower())
        if found is not None:
            return found
    raise ValueError(f"unknown log level {level!r}; use one of debug, info, warning, error")


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def configure_logging(level: str | int = "info") -> None:
    """Configure structlog and the standard ``logging`` root for JSON lines on stdout.

    Idempotent: a second call replaces the first configuration (and its root handler) instead
    of adding to it, and applies to module-level ``structlog.get_logger()`` proxies at once.
    Loggers made concrete earlier with ``.bind()`` keep the configuration they were bound under.
    """
    lvl = parse_level(level)
    structlog.configure(
        processors=[
            *_shared_processors(),
            _add_logger_name,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=_logger_factory,
        context_class=dict,
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lvl)
