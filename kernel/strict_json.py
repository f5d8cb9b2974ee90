"""JSON from untrusted bodies: only what PostgreSQL's jsonb and every other reader can hold.

``json.loads`` accepts ``NaN`` and ``Infinity`` (jsonb refuses them later, as a server error)
and recurses once per nesting level (a thousand ``[`` raise ``RecursionError``). Both are the
sender's fault, so both become a ``ValueError`` the API answers with 400.
"""

from __future__ import annotations

import json
from typing import Any


class JsonBodyError(ValueError):
    """The body is not JSON a registry can store; the message says why, in one line."""


def _no_constant(name: str) -> Any:
    raise JsonBodyError(f"{name} is not a JSON number")


def loads(raw: bytes | str) -> Any:
    """Parse strict JSON (RFC 8259: no NaN/Infinity) or raise :class:`JsonBodyError`."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except JsonBodyError:
        raise
    except RecursionError:
        raise JsonBodyError("nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise JsonBodyError(str(exc).splitlines()[0]) from None
