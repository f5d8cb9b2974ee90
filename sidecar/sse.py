"""Server-sent events as they pass: JSON `data:` payloads are masked event by event and their
token usage is read.

LLM agents stream their answers as SSE (`text/event-stream`), one JSON object per `data:` line,
with OpenAI-style streams putting `usage` into their last chunk. A stream cannot wait for its end
to be masked, so the sidecar works line by line: complete lines go out as soon as they are in;
a `data:` line whose payload is a JSON object or array has its string values masked (when the
call has masks) and its `usage` remembered; every other line passes unchanged. A line longer
than `max_line` bytes cannot be inspected and ends the stream (`LineTooLong`), as a body over
the size cap does. Lines end with LF or CRLF (a stream using bare CR for line ends is one long
line to this reader).
"""

from __future__ import annotations

import json
from typing import Any

from sidecar.masking import Masker, encode_json
from sidecar.usage import Usage, usage_from_json

DATA = b"data:"
MAX_LINE = 1024 * 1024


class LineTooLong(Exception):
    """An SSE line longer than the reader's limit: it cannot be inspected."""


class SseReader:
    def __init__(self, masker: Masker | None, max_line: int = MAX_LINE) -> None:
        self.masker = masker
        self.max_line = max_line
        self.usage: Usage | None = None  # the last usage any event reported
        self.masked = 0  # values replaced so far
        self._partial = b""

    def feed(self, chunk: bytes) -> bytes:
        """The complete lines of what came in so far, rewritten; the rest waits for its end."""
        data = self._partial + chunk
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        if len(self._partial) > self.max_line:
            raise LineTooLong(f"an event-stream line is longer than {self.max_line} bytes")
        if not end:
            return b""
        return b"".join(self._line(line) for line in data[:end].splitlines(keepends=True))

    def end(self) -> bytes:
        """What is left when the stream ends (a last line without its line break)."""
        rest, self._partial = self._partial, b""
        return self._line(rest) if rest else b""

    def _line(self, line: bytes) -> bytes:
        if not line.startswith(DATA):
            return line
        body = line.rstrip(b"\r\n")
        payload = body[len(DATA) :].lstrip(b" ")
        if not payload.startswith((b"{", b"[")):
            return line
        try:
            doc: Any = json.loads(payload)
        except ValueError:
            return line
        self.usage = usage_from_json(doc) or self.usage
        if self.masker is None:
            return line
        masked, replaced = self.masker.mask_value(doc)
        if not replaced:
            return line
        self.masked += replaced
        return DATA + b" " + encode_json(masked) + line[len(body) :]
