"""Serving aiohttp apps so that even the requests aiohttp refuses before any handler runs (a
request line or header past its limit, a malformed message) are answered with problem+json.

aiohttp answers those from ``RequestHandler.handle_error`` as plain text, outside every
middleware. :class:`ProblemAppRunner` is ``web.AppRunner`` with a connection handler whose
``handle_error`` renders :mod:`kernel.problems` instead: 414 for a request line that is too
long, 431 for headers, 400 for any other malformed message, 500 otherwise.
"""

from __future__ import annotations

import uuid

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from kernel.problems import problem_body, problem_response


def _refusal(status: int, exc: BaseException | None) -> tuple[int, str, str, str]:
    """(status, slug, title, detail) of a request refused at the protocol level."""
    if isinstance(exc, LineTooLong):
        line, limit = exc.args[0], exc.args[1]
        text = line.decode("latin-1") if isinstance(line, bytes | bytearray) else str(line)
        if text.startswith("/"):  # the request target (origin form), not a header line
            return 414, "uri-too-long", "URI too long", f"request line longer than {limit} bytes"
        detail = f"a header line is longer than {limit} bytes"
        return 431, "request-header-fields-too-large", "Request header fields too large", detail
    if isinstance(exc, BadHttpMessage) or 400 <= status < 500:
        return 400, "bad-request", "Bad request", "malformed HTTP request"
    return 500, "internal-error", "Internal error", "unexpected error"


class _ProblemRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; refuses a half-sent answer
        status, slug, title, detail = _refusal(status, exc)
        request_id = str(uuid.uuid4())
        path = request.rel_url.path if status != 414 else "/"
        body = problem_body(status, slug, title, detail, instance=path, request_id=request_id)
        response = problem_response(body)
        response.force_close()
        return response


class _ProblemServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """``web.AppRunner`` whose protocol-level refusals are problem+json (see module doc)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds the Server inside Application._make_handler; this subclass only
        # changes which connection handler it creates, so swapping the class is enough.
        server.__class__ = _ProblemServer
        return server
