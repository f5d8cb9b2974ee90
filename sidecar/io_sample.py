"""Input/output samples: a fraction of calls logs its request and response bodies (``io_sample``).

``--log-sample-rate`` (0..1, default 0: never) picks calls at random when they start. A picked
call keeps the first bytes of its request body as it streams to the agent (never buffering the
whole body) and the response body when the sidecar buffers it anyway (JSON answers, which it
reads for token usage and masking); a streamed answer (event streams, other media types) is
logged as ``"response_body": null`` with ``response_streamed: true``.

Masking. Both bodies are masked with the call's ``mask`` obligation before they are logged, the
same patterns the sidecar applies to the answer: a JSON body value by value, anything else (or a
body cut at the cap) as text. Masking runs on up to ``max_bytes + MARGIN`` bytes and the result
is cut to ``max_bytes`` afterwards, so a secret cut in half by the cap is still recognised (one
longer than ``MARGIN`` is not: keep caps above the longest secret). When the obligations are not
known (the call was refused before the agent saw it) or masking fails, no body is logged.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from sidecar.masking import Masker, MaskingError, masker_for

log = structlog.get_logger("sidecar.io_sample")

MARGIN: Final = 4096


@dataclass(slots=True)
class IoSample:
    """The bodies of one sampled call, collected as they pass."""

    max_bytes: int
    request: bytearray = field(default_factory=bytearray)
    request_bytes: int = 0
    response: bytes | None = None
    response_bytes: int = 0
    streamed: bool = False
    mask: tuple[tuple[str, str], ...] | None = None  # None: obligations unknown, log no body

    def tap_request(self, chunk: bytes) -> None:
        self.request_bytes += len(chunk)
        room = self.max_bytes + MARGIN - len(self.request)
        if room > 0:
            self.request += chunk[:room]

    def set_response(self, body: bytes | None, size: int) -> None:
        """The answer without its content coding (None: unreadable, not logged)."""
        self.response_bytes = size
        self.response = None if body is None else body[: self.max_bytes + MARGIN]

    def record(self) -> dict[str, Any]:
        """The ``io_sample`` line's fields (bodies masked and capped, or None)."""
        fields: dict[str, Any] = {
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
            "response_streamed": self.streamed,
        }
        if self.mask is None:
            return {**fields, "request_body": None, "response_body": None, "masked": False}
        try:
            masker = masker_for(self.mask) if self.mask else None
            req, req_cut = render(bytes(self.request), self.request_bytes, masker, self.max_bytes)
            resp, resp_cut = render(self.response, self.response_bytes, masker, self.max_bytes)
        except MaskingError:
            return {**fields, "request_body": None, "response_body": None, "masked": False}
        return {
            **fields,
            "request_body": req,
            "request_truncated": req_cut,
            "response_body": resp,
            "response_truncated": resp_cut,
            "masked": masker is not None,
        }


def render(raw: bytes | None, total: int, masker: Masker | None, cap: int) -> tuple[Any, bool]:
    """A body for the log (always a string, so a search cluster maps one type): masked, then
    cut to ``cap`` characters; and whether it was cut."""
    if raw is None:
        return None, False
    text = raw.decode("utf-8", "replace")
    if len(raw) >= total:  # the whole body: mask it as JSON when it is JSON
        try:
            doc = json.loads(text)
        except ValueError:
            pass
        else:
            if masker is not None:
                doc, _ = masker.mask_value(doc)
            encoded = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            return encoded[:cap], len(encoded) > cap
    if masker is not None:
        text, _ = masker.mask_str(text)
    return text[:cap], len(text) > cap or len(raw) < total


class IoSampler:
    """Decides which calls are sampled; ``rate`` 0 never samples, 1 samples every call."""

    def __init__(
        self, rate: float = 0.0, max_bytes: int = 4096, draw: Callable[[], float] = random.random
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the log sample rate must be between 0 and 1, got {rate}")
        if max_bytes < 1:
            raise ValueError("the sample size cap must be positive")
        self.rate, self.max_bytes, self._draw = rate, max_bytes, draw

    def start(self) -> IoSample | None:
        if self.rate <= 0.0 or self._draw() >= self.rate:
            return None
        return IoSample(self.max_bytes)


def log_sample(sample: IoSample, *, method: str, path: str, status: int) -> None:
    log.info("io_sample", method=method, path=path, status=status, **sample.record())
