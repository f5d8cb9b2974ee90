"""structlog JSON lines to stdout: the one logging setup of every GreenLang process (registry,
sidecar, agent host, CLIs that log).

One JSON object per line with the same keys in every component, first:

* ``timestamp`` (RFC 3339, UTC, microseconds, ``...Z``), ``level``, ``event``,
* ``component`` (``registry``, ``sidecar``, ``agent-host``, ...: given to
  :func:`configure_logging`),
* when known: ``agent_id``, ``version``, ``request_id`` (bound per request with
  ``structlog.contextvars.bind_contextvars``), ``trace_id`` and ``span_id`` (32 and 16 hex
  digits, from the current OpenTelemetry span when there is one, unless the call or the context
  gives them), ``logger`` (the logger's name), then the call's own key/values,
* ``exception``: the formatted stack trace, for ``log.exception(...)`` or ``exc_info=...``.

Records of the standard ``logging`` module (aiohttp, OpenTelemetry's exporter, ...) come out in
the same shape. With ``GREENLANG_LOG_SHIP_URL`` set, every line is also appended to an on-disk
spool and shipped to Elasticsearch's ``_bulk`` API (:mod:`kernel.log_shipper`); shipped lines
carry a ``log_id`` (the document id, so a resend stores nothing twice).

Lines go to whatever ``sys.stdout`` is at write time, so replacing stdout (tests capturing it)
never leaves a logger writing to a closed stream. The bound logger class is
``structlog.make_filtering_bound_logger(level)``: a message below the level is a no-op method.
Loggers are not cached on first use, so calling :func:`configure_logging` again (another level)
applies to every proxy at once.
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from typing import Any, Final

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from kernel import log_shipper

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

#: The keys every line leads with, in this order (when present).
FIRST_KEYS: Final = (
    "log_id",
    "timestamp",
    "level",
    "event",
    "component",
    "agent_id",
    "version",
    "request_id",
    "trace_id",
    "span_id",
)

_write_lock = threading.Lock()


def _emit(line: str) -> None:
    with _write_lock:
        out = sys.stdout
        out.write(line + "\n")
        out.flush()
    log_shipper.offer(line)


class StdoutLogger:
    """structlog's final logger: writes each rendered line to the current ``sys.stdout``."""

    __slots__ = ("name",)

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        _emit(message)

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def _logger_factory(*args: Any) -> StdoutLogger:
    return StdoutLogger(args[0] if args and isinstance(args[0], str) else None)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name and "logger" not in event_dict:
        event_dict["logger"] = name
    return event_dict


def add_trace_context(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """``trace_id``/``span_id`` of the current OpenTelemetry span (a given value wins)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        if "trace_id" not in event_dict:
            event_dict["trace_id"] = format(ctx.trace_id, "032x")
        if "span_id" not in event_dict:
            event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def _component(name: str | None) -> Processor:
    def add_component(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if name is not None:
            event_dict.setdefault("component", name)
        return event_dict

    return add_component


def _add_log_id(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    if log_shipper.active():
        event_dict["log_id"] = uuid.uuid4().hex
    return event_dict


def _order_keys(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    ordered = {k: event_dict.pop(k) for k in FIRST_KEYS if k in event_dict}
    ordered.update(event_dict)
    return ordered


class _StdoutHandler(logging.Handler):
    """Root handler for standard-library records, rendered like structlog's."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _emit(self.format(record))
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


def _shared_processors(component: str | None) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _component(component),
        add_trace_context,
    ]


def _final_processors() -> list[Processor]:
    return [
        structlog.processors.format_exc_info,
        _add_log_id,
        _order_keys,
        structlog.processors.JSONRenderer(),
    ]


def configure_logging(level: str | int = "info", component: str | None = None) -> None:
    """Configure structlog and the standard ``logging`` root for JSON lines on stdout, and
    start shipping them when ``GREENLANG_LOG_SHIP_URL`` is set (:mod:`kernel.log_shipper`).

    Idempotent: a second call replaces the first configuration (and its root handler) instead
    of adding to it, and applies to module-level ``structlog.get_logger()`` proxies at once.
    Loggers made concrete earlier with ``.bind()`` keep the configuration they were bound under.
    """
    lvl = parse_level(level)
    structlog.configure(
        processors=[*_shared_processors(component), _add_logger_name, *_final_processors()],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=_logger_factory,
        context_class=dict,
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(component), structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_final_processors(),
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lvl)
    log_shipper.start_from_env(component or "process")
