"""Token usage an agent reports, read from its response headers or JSON body.

Agents report usage either as headers (``X-Tokens-Used: <int>``, optional ``X-Model``) or in an
OpenAI-style body (``{"model": ..., "usage": {"total_tokens", "prompt_tokens",
"completion_tokens"}}``; Anthropic-style ``input_tokens``/``output_tokens`` are read as prompt
and completion). The values feed a deny decision, so only non-negative ``int`` counts are
accepted (``True``, ``1.5``, ``"12"`` and negatives are not counts); anything malformed yields
None rather than an exception, because a broken report must not break the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kernel.audit_event import TokenUsage

TOKENS_HEADER: Final = "X-Tokens-Used"
MODEL_HEADER: Final = "X-Model"
_MAX_MODEL_LEN: Final = 256
_MAX_COUNT: Final = 2**63 - 1  # fits every downstream integer column (audit, PostgreSQL bigint)
_MAX_DIGITS: Final = 18


@dataclass(frozen=True, slots=True)
class Usage:
    total: int
    prompt: int | None
    completion: int | None
    model: str | None

    def as_input(self) -> dict[str, Any]:
        """The decision-input form (``input.usage``); absent values are left out, not null."""
        doc: dict[str, Any] = {"total_tokens": self.total}
        if self.prompt is not None:
            doc["prompt_tokens"] = self.prompt
        if self.completion is not None:
            doc["completion_tokens"] = self.completion
        if self.model is not None:
            doc["model"] = self.model
        return doc

    def as_event(self) -> TokenUsage:
        """The audit-event form (``tokens``); every key present, unknown values null."""
        return {
            "total": self.total,
            "prompt": self.prompt,
            "completion": self.completion,
            "model": self.model,
        }


def _count(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= _MAX_COUNT else None


def _model(value: Any) -> str | None:
    if type(value) is not str:
        return None
    value = value.strip()
    return value if 0 < len(value) <= _MAX_MODEL_LEN else None


def usage_from_headers(headers: Mapping[str, str]) -> Usage | None:
    """Usage from ``X-Tokens-Used``/``X-Model`` (pass a case-insensitive mapping, e.g.
    aiohttp's response headers); None when the count is absent or not a plain decimal."""
    raw = headers.get(TOKENS_HEADER)
    if raw is None:
        return None
    raw = raw.strip()
    if not (0 < len(raw) <= _MAX_DIGITS and raw.isascii() and raw.isdigit()):
        return None
    return Usage(int(raw), None, None, _model(headers.get(MODEL_HEADER)))


def usage_from_json(doc: Any) -> Usage | None:
    """Usage from a decoded response body's ``usage`` object; None when it has no valid count.

    ``total_tokens`` wins; without a valid one, ``prompt + completion`` when both are valid."""
    if type(doc) is not dict:
        return None
    usage = doc.get("usage")
    if type(usage) is not dict:
        return None
    prompt = _count(usage.get("prompt_tokens"))
    if prompt is None:
        prompt = _count(usage.get("input_tokens"))
    completion = _count(usage.get("completion_tokens"))
    if completion is None:
        completion = _count(usage.get("output_tokens"))
    total = _count(usage.get("total_tokens"))
    if total is None:
        if prompt is None or completion is None:
            return None
        total = prompt + completion
        if total > _MAX_COUNT:
            return None
    return Usage(total, prompt, completion, _model(doc.get("model")))
