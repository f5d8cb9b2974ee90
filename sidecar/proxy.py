"""Transparent streaming reverse proxy: the sidecar's core, without policy, auth or metrics.

Every method, path, raw query string, end-to-end header, status code and body passes through
unchanged. Bodies stream in both directions (nothing is buffered whole) and compressed bodies
pass byte-for-byte: neither the server nor the client side decompresses. Hop-by-hop headers
(RFC 9110 §7.6.1) are dropped, ``X-Forwarded-*`` added, ``traceparent``/``tracestate`` pass
through, and ``X-Request-Id`` is added when absent. An agent that cannot be reached, resets the
connection or answers something that is not HTTP answers 502, one too slow 504, both as RFC 9457
``application/problem+json``. Once the agent's headers went out, a failure can only cut the
response short: the client connection is closed without the final chunk (what nginx and Envoy
do), so the client sees a truncated response, never a complete-looking one or a hang.

Later layers (authentication, policy, metrics) wrap :class:`ReverseProxy` or add middlewares to
the app returned by :func:`create_proxy_app`; the request id is available as
``request[REQUEST_ID]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Final, Protocol

import aiohttp
import structlog
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from kernel.headers import REQUEST_ID_HEADER, request_id_of
from kernel.problems import ProblemDetails, problem_response
from sidecar.metrics import (
    ERROR_MASKING_FAILED,
    ERROR_REQUEST_TOO_LARGE,
    ERROR_RESPONSE_TOO_LARGE,
    ERROR_UPSTREAM_PROTOCOL,
    ERROR_UPSTREAM_RESET,
    ERROR_UPSTREAM_TIMEOUT,
    ERROR_UPSTREAM_UNREACHABLE,
)

log = structlog.get_logger("sidecar.proxy")

REQUEST_ID = web.RequestKey("request_id", str)

#: RFC 9110 §7.6.1 connection-specific fields, plus ``Proxy-Connection`` (non-standard, still
#: sent by some clients). Header names listed in ``Connection`` are dropped as well.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Request-only fields the proxy itself answers or must recompute for the upstream hop:
# ``Host`` becomes the upstream's (the original goes in X-Forwarded-Host) and ``Expect`` was
# already handled by this server (it sent ``100 Continue``).
_REQUEST_ONLY_DROP: Final = frozenset({"host", "expect"})
_STREAM_CHUNK: Final = 64 * 1024


def _connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> set[str]:
    tokens: set[str] = set()
    for value in headers.getall(hdrs.CONNECTION, ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def filter_hop_by_hop(
    headers: CIMultiDictProxy[str] | CIMultiDict[str], extra: Iterable[str] = ()
) -> CIMultiDict[str]:
    """Copy ``headers`` without hop-by-hop fields (and those named in ``Connection``)."""
    drop = HOP_BY_HOP | _connection_tokens(headers) | {e.lower() for e in extra}
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in drop:
            out.add(name, value)
    return out


async def _body_stream(
    content: aiohttp.StreamReader, limit: int | None, tap: Callable[[bytes], None] | None = None
) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in content.iter_chunked(_STREAM_CHUNK):
        received += len(chunk)
        if limit is not None and received > limit:
            raise BodyTooLarge
        if tap is not None:
            tap(chunk)
        yield chunk


class Rewriter(Protocol):
    """Rewrites a streamed response body as it passes (sidecar/sse.py). Raising from either
    method cuts the response off."""

    def feed(self, chunk: bytes) -> bytes: ...

    def end(self) -> bytes: ...


class ReverseProxy:
    """Forwards requests to one upstream over a pooled keep-alive client session."""

    def __init__(
        self,
        upstream: str,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 60,
        connection_limit: int = 100,
    ) -> None:
        url = URL(upstream)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"upstream must be an absolute http(s) URL, got {upstream!r}")
        if url.query_string or url.fragment:
            raise ValueError(f"upstream must not carry a query or fragment: {upstream!r}")
        self._base = str(url.origin()) + url.raw_path.rstrip("/")
        self.upstream = url
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("proxy not started (app startup has not run)")
        return self._session

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, enable_cleanup_closed=True),
                timeout=self.timeout,
                auto_decompress=False,
                # Pass the caller's headers as they are; never invent defaults.
                skip_auto_headers=(
                    hdrs.USER_AGENT,
                    hdrs.ACCEPT,
                    hdrs.ACCEPT_ENCODING,
                    hdrs.CONTENT_TYPE,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        await self.start()
        yield
        await self.close()

    def upstream_url(self, request: web.BaseRequest, base: str | None = None) -> URL:
        """The request's target on the upstream (or on ``base``, another origin and path)."""
        raw = request.raw_path  # path and query exactly as the client sent them
        if not raw.startswith("/"):  # absolute-form or asterisk-form request target
            raw = request.rel_url.raw_path_qs if raw != "*" else "*"
        return URL((self._base if base is None else base) + raw, encoded=True)

    def upstream_headers(self, request: web.BaseRequest, request_id: str) -> CIMultiDict[str]:
        headers = filter_hop_by_hop(request.headers, extra=_REQUEST_ONLY_DROP)
        remote = request.remote or ""
        if remote:
            prior = ", ".join(headers.getall("X-Forwarded-For", ()))
            headers["X-Forwarded-For"] = f"{prior}, {remote}" if prior else remote
        # A previous proxy's view of the original scheme and host wins over ours.
        headers.setdefault("X-Forwarded-Proto", request.scheme)
        if request.host:
            headers.setdefault("X-Forwarded-Host", request.host)
        headers[REQUEST_ID_HEADER] = request_id
        return headers

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request_id = request_id_of(request)
        request[REQUEST_ID] = request_id
        return await self.forward(request, request_id)

    async def forward(self, request: web.Request, request_id: str) -> web.StreamResponse:
        """Send the request upstream and stream the answer back (the plain-proxy path)."""
        try:
            upstream = await self.open(request, self.upstream_headers(request, request_id))
        except UpstreamError as exc:
            return problem_response(exc.body(request.path, request_id))
        try:
            return await self.stream_back(request, upstream, request_id)
        finally:
            upstream.release()

    async def open(
        self,
        request: web.Request,
        headers: CIMultiDict[str],
        *,
        client_timeout: aiohttp.ClientTimeout | None = None,
        body_limit: int | None = None,
        base: str | None = None,
        tap: Callable[[bytes], None] | None = None,
    ) -> aiohttp.ClientResponse:
        """Send the request upstream (or to ``base``: see :meth:`upstream_url`), its body
        streamed, and return the response at headers.

        Raises UpstreamError (see :func:`upstream_failure`): 502 when the agent cannot be
        reached (``connect_failed``: no connection was made, so nothing of the request was
        sent), resets the connection or does not answer HTTP, 504 when it is too slow, 413 when
        a streamed request body exceeds ``body_limit``. ``tap`` sees each request body
        chunk as it goes (io samples)."""
        data = None
        if request.body_exists:
            data = _body_stream(request.content, body_limit, tap)
        try:
            return await self.session.request(
                request.method,
                self.upstream_url(request, base),
                headers=headers,
                data=data,
                allow_redirects=False,
                compress=None,
                timeout=client_timeout or self.timeout,
            )
        except BodyTooLarge:
            raise UpstreamError.body_too_large(body_limit or 0) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            if isinstance(exc.__cause__, BodyTooLarge) or isinstance(exc.__context__, BodyTooLarge):
                raise UpstreamError.body_too_large(body_limit or 0) from None
            failure = upstream_failure(exc)
            log.warning(failure.kind, error=repr(exc))
            raise failure from None

    async def stream_back(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        request_id: str,
        *,
        extra_headers: Iterable[tuple[str, str]] = (),
        limit: int | None = None,
        rewrite: Rewriter | None = None,
        cut: Callable[[str], None] | None = None,
    ) -> web.StreamResponse:
        """Stream the upstream response to the client as it arrives (SSE, chunked, large),
        through ``rewrite`` when given (the headers that describe the exact bytes are dropped).

        When the agent fails mid-response (reset, timeout), past ``limit`` bytes and on a body
        ``rewrite`` cannot take, the response is cut off: the headers are out, so a truncated
        response is the only honest signal left. ``cut`` is told why (an agent_errors_total
        type)."""
        resp_headers = response_headers(upstream, request_id, extra_headers)
        if rewrite is not None:
            for name in BODY_DESCRIBING_HEADERS:
                resp_headers.popall(name, None)
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=resp_headers
        )
        await response.prepare(request)
        sent = 0
        try:
            while True:
                try:
                    chunk = await upstream.content.readany()
                except (TimeoutError, aiohttp.ClientError) as exc:
                    kind = upstream_failure(exc).kind
                    log.warning("upstream_failed_mid_response", kind=kind, error=repr(exc))
                    return _abort(request, upstream, response, cut, kind)
                sent += len(chunk)
                if limit is not None and sent > limit:
                    log.warning("response_over_limit", limit=limit)
                    return _abort(request, upstream, response, cut, ERROR_RESPONSE_TOO_LARGE)
                try:
                    out = (
                        chunk
                        if rewrite is None
                        else (rewrite.feed(chunk) if chunk else rewrite.end())
                    )
                except Exception as exc:  # the rewriter refuses what it cannot inspect
                    log.warning("response_not_rewritable", error=str(exc))
                    return _abort(request, upstream, response, cut, ERROR_MASKING_FAILED)
                if out:
                    await response.write(out)  # flushed as it arrives (SSE, chunked)
                if not chunk:
                    break
        except BaseException:
            upstream.close()  # client went away: never pool a half-read connection
            raise
        await response.write_eof()
        return response


# Headers that describe a body's exact bytes: wrong once the body is rewritten.
BODY_DESCRIBING_HEADERS: Final = ("Content-Length", "ETag", "Content-MD5", "Digest")


def response_headers(
    upstream: aiohttp.ClientResponse, request_id: str, extra: Iterable[tuple[str, str]] = ()
) -> CIMultiDict[str]:
    """The upstream's end-to-end headers for the client, plus ``extra`` and the request id."""
    headers = filter_hop_by_hop(upstream.headers)
    headers.setdefault(REQUEST_ID_HEADER, request_id)
    for name, value in extra:
        headers.add(name, value)
    return headers


def _abort(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    response: web.StreamResponse,
    cut: Callable[[str], None] | None,
    kind: str,
) -> web.StreamResponse:
    """Close both sides without the final chunk; aiohttp then drops the client connection."""
    upstream.close()
    if request.transport is not None:
        request.transport.close()
    if cut is not None:
        cut(kind)
    return response


def upstream_failure(exc: BaseException) -> UpstreamError:
    """What an exception of the upstream hop says happened to the agent."""
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return UpstreamError.timeout()
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError.unreachable(connect_failed=True)
    if isinstance(exc, aiohttp.ClientResponseError):  # the answer did not parse as HTTP
        return UpstreamError.protocol_error()
    # disconnected, reset, or a body that ended before its length (ClientPayloadError)
    return UpstreamError.reset()


class BodyTooLarge(Exception):
    """A streamed request body went past its limit."""


class UpstreamError(ProblemDetails):
    """The upstream hop failed before a response started: the problem to answer, and its
    agent_errors_total type (``kind``)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        kind: str,
        *,
        connect_failed: bool = False,
    ) -> None:
        super().__init__(status, slug, title, detail)
        self.kind = kind
        # No connection was made: nothing was sent, so the call may still go elsewhere.
        self.connect_failed = connect_failed

    @classmethod
    def unreachable(cls, *, connect_failed: bool = False) -> UpstreamError:
        detail = "The upstream agent could not be reached."
        return cls(
            502,
            "upstream-unavailable",
            "Bad Gateway",
            detail,
            ERROR_UPSTREAM_UNREACHABLE,
            connect_failed=connect_failed,
        )

    @classmethod
    def reset(cls) -> UpstreamError:
        detail = "The upstream agent closed the connection before its answer was complete."
        return cls(502, "upstream-reset", "Bad Gateway", detail, ERROR_UPSTREAM_RESET)

    @classmethod
    def protocol_error(cls) -> UpstreamError:
        detail = "The upstream agent's answer is not valid HTTP."
        return cls(502, "upstream-protocol-error", "Bad Gateway", detail, ERROR_UPSTREAM_PROTOCOL)

    @classmethod
    def timeout(cls) -> UpstreamError:
        detail = "The upstream agent did not answer in time."
        return cls(504, "upstream-timeout", "Gateway Timeout", detail, ERROR_UPSTREAM_TIMEOUT)

    @classmethod
    def body_too_large(cls, limit: int) -> UpstreamError:
        detail = f"The request body exceeds this agent's limit of {limit} bytes."
        return cls(413, "payload-too-large", "Content Too Large", detail, ERROR_REQUEST_TOO_LARGE)


PROXY = web.AppKey("proxy", ReverseProxy)


def create_proxy_app(
    upstream: str,
    *,
    connect_timeout: float = 5,
    read_timeout: float = 60,
    connection_limit: int = 100,
) -> web.Application:
    """An aiohttp app that forwards every request to ``upstream`` (see module docstring).

    The app's server must not decompress request bodies; this is set through ``handler_args``
    and holds for ``web.run_app``, ``AppRunner`` and ``aiohttp.test_utils.TestServer``."""
    proxy = ReverseProxy(
        upstream,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        connection_limit=connection_limit,
    )
    app = web.Application(handler_args={"auto_decompress": False})
    app[PROXY] = proxy
    app.cleanup_ctx.append(proxy.cleanup_ctx)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    return app
