"""The one logging setup: JSON lines on stdout with the request's context variables, for
structlog and standard-library records alike."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import structlog

from kernel import logs
from kernel.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_json_line_with_request_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    log = structlog.get_logger("sidecar.pipeline")
    structlog.contextvars.bind_contextvars(request_id="req-1", trace_id="ab" * 16)
    log.info("upstream answered", status=200, latency_ms=12.5)
    log.debug("filtered out")
    structlog.contextvars.clear_contextvars()
    log.warning("no context")

    first, second = lines(capsys)
    assert first["event"] == "upstream answered"
    assert first["level"] == "info"
    assert first["request_id"] == "req-1"
    assert first["trace_id"] == "ab" * 16
    assert first["status"] == 200 and first["latency_ms"] == 12.5
    assert first["logger"] == "sidecar.pipeline"
    stamp = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert second["event"] == "no context" and second["level"] == "warning"
    assert "request_id" not in second


def test_call_keys_win_over_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    structlog.contextvars.bind_contextvars(request_id="bound")
    structlog.get_logger().info("x", request_id="explicit")
    (line,) = lines(capsys)
    assert line["request_id"] == "explicit"


def test_reconfiguring_is_idempotent_and_changes_the_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = structlog.get_logger("sidecar.test")  # a module-level style proxy, made before configure
    configure_logging("warning")
    log.info("hidden")
    log.warning("shown once")
    configure_logging("debug")
    configure_logging("DEBUG")  # again: still one line per message
    log.debug("now visible")
    logging.getLogger("aiohttp.test").info("stdlib record")
    got = lines(capsys)
    assert [(g["event"], g["level"]) for g in got] == [
        ("shown once", "warning"),
        ("now visible", "debug"),
        ("stdlib record", "info"),
    ]
    assert sum(isinstance(h, logs._StdoutHandler) for h in logging.getLogger().handlers) == 1


def test_stdlib_records_share_the_shape_and_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    structlog.contextvars.bind_contextvars(request_id="req-2")
    std = logging.getLogger("opentelemetry.exporter")
    std.warning("export failed: %s", "connection refused")
    std.debug("below the level")
    (line,) = lines(capsys)
    assert line["event"] == "export failed: connection refused"
    assert line["level"] == "warning"
    assert line["logger"] == "opentelemetry.exporter"
    assert line["request_id"] == "req-2"
    assert "timestamp" in line


def test_exceptions_are_rendered_into_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info")
    try:
        raise ValueError("bad upstream")
    except ValueError:
        structlog.get_logger().exception("masking failed")
    (line,) = lines(capsys)
    assert line["level"] == "error"
    assert "ValueError: bad upstream" in line["exception"]


def test_lines_go_to_the_current_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_logging("info")
    log = structlog.get_logger()
    log.info("before")  # the logger has been used with the first stdout
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replaced)
    log.info("during")
    monkeypatch.undo()
    during = replaced.getvalue()
    replaced.close()  # a stream a test closed is never written to again
    log.info("after")
    assert json.loads(during)["event"] == "during"
    assert [g["event"] for g in lines(capsys)] == ["before", "after"]


@pytest.mark.parametrize("bad", ["verbose", "", 15])
def test_unknown_level_rejected(bad: str | int) -> None:
    with pytest.raises(ValueError):
        configure_logging(bad)


def test_parse_level() -> None:
    assert logs.parse_level("Info") == logging.INFO
    assert logs.parse_level(logging.ERROR) == logging.ERROR
    assert logs.parse_level("warn") == logging.WARNING


def test_common_keys_lead_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", component="registry")
    structlog.contextvars.bind_contextvars(request_id="r-1", agent_id="gl-x", version="2.0.0")
    structlog.get_logger("registry.api").info("agent_registered", extra=1)
    logging.getLogger("aiohttp.server").error("stdlib line")
    raw = capsys.readouterr().out.splitlines()
    first, second = (json.loads(x) for x in raw)
    assert list(first)[:7] == [
        "timestamp",
        "level",
        "event",
        "component",
        "agent_id",
        "version",
        "request_id",
    ]
    assert first["component"] == "registry" and first["extra"] == 1
    assert second["component"] == "registry" and second["request_id"] == "r-1"
    assert "log_id" not in first  # only shipped lines carry a document id


def test_trace_and_span_ids_come_from_the_current_span(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    configure_logging("info", component="agent-host")
    tracer = TracerProvider().get_tracer("t")
    log = structlog.get_logger()
    log.info("outside")
    with tracer.start_as_current_span("outer") as outer:
        log.info("in outer")
        with tracer.start_as_current_span("inner") as inner:
            logging.getLogger("x").info("stdlib in inner")
        log.info("given wins", trace_id="f" * 32)
    outside, in_outer, in_inner, given = lines(capsys)
    assert "trace_id" not in outside and "span_id" not in outside
    tid = format(outer.get_span_context().trace_id, "032x")
    assert in_outer["trace_id"] == tid
    assert in_outer["span_id"] == format(outer.get_span_context().span_id, "016x")
    assert in_inner["trace_id"] == tid
    assert in_inner["span_id"] == format(inner.get_span_context().span_id, "016x")
    assert given["trace_id"] == "f" * 32
