"""JSON for the sidecar's per-call work (reading an agent's JSON answer, re-encoding a masked
one): orjson where it gives the same document as the standard library, the stdlib otherwise.

orjson reads a 2 KB answer in ~6 µs against ~20 µs and writes it in ~2 µs against ~13 µs
(docs/sidecar.md, Performance), but it is not a drop-in: it reads an integer beyond 64 bits as
a float and refuses NaN, Infinity, a BOM and lone surrogates, and it writes NaN as ``null``.
So a text with a number of 19 or more digits (one orjson might round) or that orjson refuses
is read by ``json``, and an encoding that contains ``null`` is redone by ``json`` (it may
have been a NaN). Set ``GREENLANG_SIDECAR_ORJSON=0`` to use only the stdlib (the benchmark
compares both).
"""

from __future__ import annotations

import json
import os
import re
from types import ModuleType
from typing import Any

ENV_ORJSON = "GREENLANG_SIDECAR_ORJSON"
# A number of 19 or more integer digits: after `:`, `[` or `,` (or at the start), where JSON
# puts values. Such a run inside a string (an IBAN) does not count; one after ": " inside a
# string does, harmlessly (the stdlib then reads that text).
_LONG_NUMBER = re.compile(rb"(?:^|[:\[,])[ \t\n\r]*-?\d{19}")


def _orjson() -> ModuleType | None:
    if os.environ.get(ENV_ORJSON, "1") == "0":
        return None
    try:
        import orjson
    except ImportError:
        return None
    return orjson


_fast = _orjson()


def loads(text: bytes) -> Any:
    """The document of a JSON text, as ``json.loads`` reads it. Raises ValueError,
    UnicodeDecodeError or RecursionError like it."""
    if _fast is not None and _LONG_NUMBER.search(text) is None:
        try:
            return _fast.loads(text)
        except _fast.JSONDecodeError:
            pass  # maybe JSON orjson refuses (NaN, BOM, UTF-16...): the stdlib decides
    return json.loads(text)


def dumps(doc: Any) -> bytes:
    """Compact UTF-8 JSON, as ``json.dumps(ensure_ascii=False, separators=(",", ":"))``
    writes it up to the spelling of floats (``1e16`` for ``1e+16``: the same number)."""
    if _fast is not None:
        try:
            out: bytes = _fast.dumps(doc)
        except TypeError:
            pass  # lone surrogates, integers beyond 64 bits
        else:
            if b"null" not in out:
                return out
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def backend() -> str:
    return "orjson" if _fast is not None else "json"
