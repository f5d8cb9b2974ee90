"""SseReader: event streams masked and read for token usage line by line, whatever the chunking."""

from __future__ import annotations

import json

import pytest

from sidecar.masking import Masker
from sidecar.sse import LineTooLong, SseReader

EMAIL = ("email", r"[a-z]+@[a-z]+\.example")
STREAM = (
    b": keep-alive comment\n"
    b"event: delta\n"
    b'data: {"choices": [{"delta": {"content": "mail ops@acme.example now"}}]}\n'
    b"\n"
    b"data: plain text ops@acme.example is not JSON\r\n"
    b"\r\n"
    b'data: {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}}\n'
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)


def run(reader: SseReader, stream: bytes, size: int) -> bytes:
    out = b"".join(reader.feed(stream[i : i + size]) for i in range(0, len(stream), size))
    return out + reader.end()


@pytest.mark.parametrize("size", [1, 3, 17, 64, len(STREAM)])
def test_json_data_is_masked_and_usage_read_at_any_chunking(size: int) -> None:
    reader = SseReader(Masker([EMAIL]))
    out = run(reader, STREAM, size)
    lines = out.split(b"\n")
    assert json.loads(lines[2][len(b"data: ") :]) == {
        "choices": [{"delta": {"content": "mail [REDACTED:email] now"}}]
    }
    assert b"data: plain text ops@acme.example is not JSON\r" in lines  # not JSON: as it was
    assert out.replace(lines[2], b"") == STREAM.replace(STREAM.split(b"\n")[2], b"")
    assert reader.masked == 1
    assert reader.usage is not None and (reader.usage.total, reader.usage.prompt) == (12, 5)


def test_without_masks_the_stream_is_unchanged_and_usage_still_read() -> None:
    reader = SseReader(None)
    assert run(reader, STREAM, 5) == STREAM
    assert reader.usage is not None and reader.usage.total == 12


def test_a_last_line_without_line_break_is_processed_at_the_end() -> None:
    reader = SseReader(Masker([EMAIL]))
    assert reader.feed(b'data: {"to": "ops@acme.example"}') == b""
    assert reader.end() == b'data: {"to":"[REDACTED:email]"}'


def test_a_line_over_the_limit_cannot_pass() -> None:
    reader = SseReader(Masker([EMAIL]), max_line=100)
    assert reader.feed(b"data: " + b"x" * 50 + b"\n") != b""
    with pytest.raises(LineTooLong):
        reader.feed(b"data: " + b"y" * 101)
