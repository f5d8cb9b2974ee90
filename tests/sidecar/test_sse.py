"""SseReader: event streams masked and read for token usage line by line, whatever the chunking."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@settings(max_examples=300, deadline=None)
@given(
    stream=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from([b"\n", b"\r\n", b"\r", b"data: ", b"data:{", b'{"a":"b"}', b"["]),
        ),
        max_size=40,
    ).map(b"".join),
    cuts=st.lists(st.integers(1, 30), max_size=20),
)
def test_without_masks_any_stream_passes_byte_for_byte(stream: bytes, cuts: list[int]) -> None:
    """Whatever the bytes and however they are chunked: no mask, no change."""
    reader = SseReader(None)
    out, at = b"", 0
    for size in cuts:
        out += reader.feed(stream[at : at + size])
        at += size
    out += reader.feed(stream[at:]) + reader.end()
    assert out == stream


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(max_size=30), min_size=1, max_size=8),
    size=st.integers(1, 50),
)
def test_masked_streams_keep_their_lines_and_mask_every_json_string(
    texts: list[str], size: int
) -> None:
    stream = b"".join(
        b"data: " + json.dumps({"t": t + " ops@acme.example"}).encode() + b"\n\n" for t in texts
    )
    reader = SseReader(Masker([EMAIL]))
    out = run(reader, stream, size)
    assert out.count(b"\n") == stream.count(b"\n")  # no line added, split or lost
    events = [json.loads(line[len(b"data: ") :]) for line in out.split(b"\n") if line]
    assert [e["t"] for e in events] == [
        Masker([EMAIL]).mask_str(t + " ops@acme.example")[0] for t in texts
    ]
    assert b"ops@acme.example" not in out
