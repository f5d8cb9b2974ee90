"""The agent host: serves an artifact's ``run(inputs: dict) -> dict`` over HTTP.

    python -m agent_sdk.host --artifact FILE --host 127.0.0.1 --port N [--timeout S]

``POST /v1/run`` takes a JSON object and answers ``run``'s JSON object; ``GET /healthz`` is 200
once the artifact imported (an artifact that cannot be imported stops the host before it
listens, with one line on stderr and exit code 2); ``GET /metrics`` is the agent's Prometheus
text (agent_sdk/observability.py). ``run`` executes in a worker thread with a
deadline, so a slow or stuck agent is a 504 and an exception a 500, never a hang; every error is
an RFC 9457 problem. The contract is published in docs/agent-spec.md ("Runtime contract").

Each call of ``run`` is an invocation span continuing the caller's ``traceparent`` (exported over
OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, kernel/tracing.py) and counts in the agent's
metrics; the artifact reaches the observability object through
``agent_sdk.observability.current()`` or a second parameter, ``run(inputs, obs)``. The agent id
and version come from ``--agent-id``/``--agent-version`` or the deployers'
``GREENLANG_AGENT_ID``/``GREENLANG_AGENT_VERSION``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import inspect
import json
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from agent_sdk.artifact import ArtifactError, RunFunction, load_run
from agent_sdk.observability import UNKNOWN, AgentObservability
from kernel import tracing
from kernel.headers import request_id_of
from kernel.logs import configure_logging
from kernel.problems import problem_body, problem_response

log = logging.getLogger("agent_sdk.host")
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BODY_MB = 8
SERVICE_NAME = "greenlang-agent"  # OTEL_SERVICE_NAME overrides it


class BadInput(Exception):
    """The request body is not a JSON object."""


class BadResult(Exception):
    """``run`` answered something that is not a JSON object."""


def parse_inputs(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BadInput(f"the body is not valid JSON: {_first_line(exc)}") from None
    if not isinstance(value, dict):
        raise BadInput(f"the body must be a JSON object, got {type(value).__name__}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class AgentHost:
    """The HTTP face of one ``run`` function; ``close`` releases its worker threads."""

    def __init__(
        self,
        run: RunFunction,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_body_bytes: int = DEFAULT_MAX_BODY_MB * 1024 * 1024,
        observability: AgentObservability | None = None,
    ) -> None:
        self._run = run
        self._pass_obs = takes_context(run)
        self.obs = observability or AgentObservability(UNKNOWN, UNKNOWN)
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        self._executor = ThreadPoolExecutor(thread_name_prefix="agent-run")
        self._lock = threading.Lock()
        self._in_flight = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[_problems])
        app.router.add_post("/v1/run", self.handle_run)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(self.obs.registry), headers={"Content-Type": content_type})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def handle_run(self, request: web.Request) -> web.Response:
        try:
            inputs = parse_inputs(await request.read())
        except BadInput as exc:
            return _problem(request, 400, "invalid-input", "Invalid input", str(exc))
        with self.obs.invocation(request.headers) as inv:
            # The worker thread runs in a copy of this context: the invocation span is its
            # current span and current() finds the observability object.
            call = contextvars.copy_context().run
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(self._executor, call, self._call, inputs)
            try:
                text = await asyncio.wait_for(work, self.timeout_s)
            except TimeoutError:
                inv.fail("timeout")
                detail = f"run() did not answer within {self.timeout_s:g} s"
                return _problem(request, 504, "agent-timeout", "Agent timed out", detail)
            except BadResult as exc:
                inv.fail("bad_result")
                return _problem(request, 500, "agent-failed", "Agent failed", str(exc))
            except Exception as exc:
                inv.fail(type(exc).__name__)
                log.error("run() raised", exc_info=exc)
                detail = f"run() raised {type(exc).__name__}"  # the message may carry input data
                return _problem(request, 500, "agent-failed", "Agent failed", detail)
        return web.Response(text=text, content_type="application/json")

    def _call(self, inputs: dict[str, Any]) -> str:
        """In a worker thread: run, then serialise, so a huge answer is timed as well."""
        with self._lock:
            self._in_flight += 1
        try:
            result = self._run(inputs, self.obs) if self._pass_obs else self._run(inputs)
            if not isinstance(result, dict):
                raise BadResult(f"run() returned {type(result).__name__}, not a JSON object")
            try:
                return json.dumps(result, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise BadResult(f"run() returned a value that is not JSON: {exc}") from None
        finally:
            with self._lock:
                self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def close(self) -> None:
        """Stop taking work; threads stuck in ``run`` cannot be interrupted and are left."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def takes_context(run: RunFunction) -> bool:
    """Whether ``run`` accepts a second positional argument (``run(inputs, obs)``)."""
    try:
        params = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _problem(request: web.Request, status: int, slug: str, title: str, detail: str) -> web.Response:
    """The one problem shape (kernel/problems.py), with the request's path and id."""
    body = problem_body(
        status, slug, title, detail, instance=request.path, request_id=request_id_of(request)
    )
    return problem_response(body)


@web.middleware
async def _problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413) as problems too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = "payload-too-large" if exc.status == 413 else "http-error"
        return _problem(request, exc.status, slug, exc.reason, exc.text or exc.reason)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="greenlang-agent-host",
        description="Serve an agent artifact's run(inputs) on POST /v1/run and GET /healthz.",
    )
    p.add_argument("--artifact", required=True, help="a Python file that defines run(inputs)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per call")
    p.add_argument("--max-body-mb", type=int, default=DEFAULT_MAX_BODY_MB)
    p.add_argument(
        "--agent-id",
        default=os.environ.get("GREENLANG_AGENT_ID") or UNKNOWN,
        help="the agent_id label and span attribute (default: $GREENLANG_AGENT_ID)",
    )
    p.add_argument(
        "--agent-version",
        default=os.environ.get("GREENLANG_AGENT_VERSION") or UNKNOWN,
        help="the version label and span attribute (default: $GREENLANG_AGENT_VERSION)",
    )
    return p


def _fail(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536:
        _fail(f"--port must be between 1 and 65535, got {args.port}", 2)
    if not 0 < args.timeout <= 3600:
        _fail("--timeout must be between 0 and 3600 seconds", 2)
    if not 0 < args.max_body_mb <= 1024:
        _fail("--max-body-mb must be between 1 and 1024", 2)
    configure_logging("info", component="agent-host")
    try:
        run = load_run(Path(args.artifact))
    except ArtifactError as exc:
        _fail(str(exc), 2)
    provider = tracing.setup_tracing(SERVICE_NAME)
    obs = AgentObservability(args.agent_id, args.agent_version, tracer_provider=provider)
    host = AgentHost(
        run,
        timeout_s=args.timeout,
        max_body_bytes=args.max_body_mb * 1024 * 1024,
        observability=obs,
    )
    log.info("serving %s on http://%s:%d", args.artifact, args.host, args.port)
    try:
        web.run_app(host.app(), host=args.host, port=args.port, print=None, access_log=None)
    except OSError as exc:
        _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1)
    finally:
        host.close()
        tracing.shutdown(provider)
    if host.in_flight:
        logging.shutdown()
        os._exit(0)  # a thread stuck in run() would otherwise keep the interpreter alive


if __name__ == "__main__":
    main()
