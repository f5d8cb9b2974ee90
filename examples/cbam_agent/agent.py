"""CBAM embedded-emissions calculator over HTTP: the example agent behind the sidecar.

    python3 examples/cbam_agent/agent.py --host 127.0.0.1 --port 9000

A small, deterministic aiohttp service (no dependency beyond aiohttp) that computes the embedded
emissions of imported CBAM goods (Regulation (EU) 2023/956, Annex IV, simple goods) from default
emission factors per CN-code prefix, and reports "token usage" the way an LLM-backed agent would,
so the sidecar's usage accounting, token limits and masking can be exercised end to end.

Endpoints (see README.md beside this file):

- ``POST /v1/calculate``  JSON in, JSON out, usage in the body (``usage`` + ``model``)
- ``GET  /v1/factors``    the default emission-factor table
- ``GET  /v1/stream``     server-sent events (progress, then usage); ``X-Tokens-Used`` header
- ``POST /v1/echo``       streams the request body back unchanged; ``X-Tokens-Used`` header
- ``GET  /healthz``       liveness

Everything is a pure function of the request, so tests can predict every byte: no timestamps,
no randomness. Importable: ``create_app()`` returns the aiohttp application.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import math
import re
import sys
from typing import Any

from aiohttp import web

PROBLEM_BASE = "https://greenlang.dev/problems/"
DEFAULT_MODEL = "gl-cbam-embedded-emissions-1"
MAX_GOODS = 1000
MAX_CALCULATE_BYTES = 2 * 1024 * 1024
ECHO_CHUNK = 64 * 1024

# Default specific embedded emissions (tCO2e per tonne of good; per MWh for electricity),
# direct and indirect, by CN-code prefix. Illustrative values in the range of the Commission's
# default values for the transitional period; the longest matching prefix wins.
FACTORS: list[dict[str, Any]] = [
    {"prefix": "72", "sector": "iron_steel", "description": "Iron and steel",
     "direct": 1.85, "indirect": 0.30, "unit": "t"},
    {"prefix": "76", "sector": "aluminium", "description": "Aluminium",
     "direct": 1.60, "indirect": 6.90, "unit": "t"},
    {"prefix": "2523", "sector": "cement", "description": "Cement and clinker",
     "direct": 0.85, "indirect": 0.05, "unit": "t"},
    {"prefix": "31", "sector": "fertilisers", "description": "Fertilisers",
     "direct": 1.80, "indirect": 0.12, "unit": "t"},
    {"prefix": "2804", "sector": "hydrogen", "description": "Hydrogen (CN 2804 10 00)",
     "direct": 9.00, "indirect": 0.60, "unit": "t"},
    {"prefix": "2716", "sector": "electricity", "description": "Electrical energy (per MWh)",
     "direct": 0.45, "indirect": 0.0, "unit": "MWh"},
]  # fmt: skip
_BY_PREFIX = sorted(FACTORS, key=lambda f: len(f["prefix"]), reverse=True)

CN_CODE = re.compile(r"^[0-9]{4,10}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
DECLARANT_FIELDS = ("name", "email", "iban")

# Deterministic "token usage": what a model-backed agent would report, derived from sizes only.
PROMPT_BYTES_PER_TOKEN = 4
COMPLETION_TOKENS_BASE = 32
COMPLETION_TOKENS_PER_GOOD = 48
STREAM_PROMPT_TOKENS = 16
STREAM_TOKENS_PER_EVENT = 24

MODEL = web.AppKey("model", str)


# ---------------------------------------------------------------------------------------------
# the calculation (pure functions; the tests import them to predict responses)


def factor_for(cn_code: str) -> dict[str, Any] | None:
    """The default factor row whose prefix is the longest match for ``cn_code``."""
    return next((f for f in _BY_PREFIX if cn_code.startswith(f["prefix"])), None)


def prompt_tokens(body_bytes: int) -> int:
    return math.ceil(body_bytes / PROMPT_BYTES_PER_TOKEN)


def calculate_usage(body_bytes: int, goods: int) -> dict[str, int]:
    """Usage of ``POST /v1/calculate`` for a ``body_bytes`` request with ``goods`` goods."""
    prompt = prompt_tokens(body_bytes)
    completion = COMPLETION_TOKENS_BASE + COMPLETION_TOKENS_PER_GOOD * goods
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def stream_usage(events: int) -> dict[str, int]:
    """Usage of ``GET /v1/stream?events=N`` (also sent as ``X-Tokens-Used``: total_tokens)."""
    completion = STREAM_TOKENS_PER_EVENT * events
    return {
        "prompt_tokens": STREAM_PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": STREAM_PROMPT_TOKENS + completion,
    }


class InvalidInput(ValueError):
    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def validate(doc: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The goods and declarant of a calculate request, or InvalidInput listing every problem."""
    errors: list[dict[str, str]] = []

    def err(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    if not isinstance(doc, dict):
        raise InvalidInput([{"field": "", "message": "the body must be a JSON object"}])
    goods = doc.get("goods")
    if not isinstance(goods, list) or not goods:
        err("goods", "a non-empty list of goods is required")
        goods = []
    elif len(goods) > MAX_GOODS:
        err("goods", f"at most {MAX_GOODS} goods per request")
        goods = []
    for i, good in enumerate(goods):
        at = f"goods[{i}]"
        if not isinstance(good, dict):
            err(at, "must be an object")
            continue
        cn = good.get("cn_code")
        if not isinstance(cn, str) or not CN_CODE.match(cn):
            err(f"{at}.cn_code", "a CN code of 4 to 10 digits is required")
        elif factor_for(cn) is None:
            err(f"{at}.cn_code", f"{cn} is not a CBAM good (no default factor)")
        if not _number(good.get("quantity_tonnes")):
            err(f"{at}.quantity_tonnes", "a non-negative number is required")
        country = good.get("country_of_origin")
        if not isinstance(country, str) or not COUNTRY.match(country):
            err(f"{at}.country_of_origin", "an ISO 3166-1 alpha-2 code (e.g. CN) is required")
        for key in ("direct_emissions_tco2_per_t", "indirect_emissions_tco2_per_t"):
            if good.get(key) is not None and not _number(good[key]):
                err(f"{at}.{key}", "must be a non-negative number when given")
    declarant = doc.get("declarant")
    out_declarant: dict[str, str] = {}
    if not isinstance(declarant, dict):
        err("declarant", "an object with name, email and iban is required")
    else:
        if not isinstance(declarant.get("name"), str) or not declarant["name"].strip():
            err("declarant.name", "a non-empty string is required")
        for key in DECLARANT_FIELDS:
            value = declarant.get(key)
            if value is not None and not isinstance(value, str):
                err(f"declarant.{key}", "must be a string")
            elif value is not None:
                out_declarant[key] = value
    if errors:
        raise InvalidInput(errors)
    return goods, out_declarant


def calculate(goods: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-good and total embedded emissions (tCO2e, 3 decimals)."""
    lines = []
    totals = {"direct_tco2e": 0.0, "indirect_tco2e": 0.0, "embedded_tco2e": 0.0}
    for i, good in enumerate(goods):
        factor = factor_for(good["cn_code"])
        assert factor is not None  # validated
        quantity = float(good["quantity_tonnes"])
        actual_direct = good.get("direct_emissions_tco2_per_t")
        actual_indirect = good.get("indirect_emissions_tco2_per_t")
        see_direct = factor["direct"] if actual_direct is None else float(actual_direct)
        see_indirect = factor["indirect"] if actual_indirect is None else float(actual_indirect)
        direct = round(quantity * see_direct, 3)
        indirect = round(quantity * see_indirect, 3)
        embedded = round(direct + indirect, 3)
        uses_actual = actual_direct is not None or actual_indirect is not None
        lines.append(
            {
                "line": i + 1,
                "cn_code": good["cn_code"],
                "sector": factor["sector"],
                "country_of_origin": good["country_of_origin"],
                "quantity_tonnes": quantity,
                "direct_tco2e_per_t": see_direct,
                "indirect_tco2e_per_t": see_indirect,
                "direct_tco2e": direct,
                "indirect_tco2e": indirect,
                "embedded_tco2e": embedded,
                "source": "actual" if uses_actual else "default",
            }
        )
        totals["direct_tco2e"] += direct
        totals["indirect_tco2e"] += indirect
        totals["embedded_tco2e"] += embedded
    return {"goods": lines, "totals": {k: round(v, 3) for k, v in totals.items()}}


# ---------------------------------------------------------------------------------------------
# HTTP


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> web.Response:
    body = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
    )


async def handle_calculate(request: web.Request) -> web.Response:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return problem(
            413,
            "payload-too-large",
            "Payload Too Large",
            f"calculate requests are limited to {MAX_CALCULATE_BYTES} bytes",
        )
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return problem(400, "invalid-input", "Invalid input", f"the body is not JSON: {exc}")
    try:
        goods, declarant = validate(doc)
    except InvalidInput as exc:
        return problem(400, "invalid-input", "Invalid input", str(exc), errors=exc.errors)
    result = calculate(goods)
    model = request.app[MODEL]
    return _json(
        {
            "calculation_id": hashlib.sha256(raw).hexdigest()[:16],
            "regulation": "EU 2023/956 (CBAM), Annex IV",
            "declarant": declarant,
            **result,
            "model": model,
            "usage": calculate_usage(len(raw), len(goods)),
        }
    )


async def handle_factors(request: web.Request) -> web.Response:
    return _json({"unit": "tCO2e per unit of good (t, or MWh for electricity)", "factors": FACTORS})


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidInput([{"field": name, "message": f"an integer in {low}..{high}"}])
    return value


async def handle_stream(request: web.Request) -> web.StreamResponse:
    """``?events=N`` progress events (1..100, default 5) ``?delay_ms=D`` apart (0..10000,
    default 100), then an ``event: usage`` event. X-Tokens-Used carries the total up front."""
    try:
        events = _int_query(request, "events", 5, 1, 100)
        delay = _int_query(request, "delay_ms", 100, 0, 10_000) / 1000
    except InvalidInput as exc:
        return problem(400, "invalid-input", "Invalid input", str(exc), errors=exc.errors)
    model = request.app[MODEL]
    usage = stream_usage(events)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Tokens-Used": str(usage["total_tokens"]),
        }
    )
    await response.prepare(request)
    for step in range(1, events + 1):
        if delay:
            await asyncio.sleep(delay)
        data = {"step": step, "of": events, "message": f"calculated batch {step} of {events}"}
        await response.write(f"id: {step}\nevent: progress\ndata: {json.dumps(data)}\n\n".encode())
    data = {**usage, "model": model}
    await response.write(f"id: {events + 1}\nevent: usage\ndata: {json.dumps(data)}\n\n".encode())
    await response.write_eof()
    return response


async def handle_echo(request: web.Request) -> web.StreamResponse:
    """The request body back, chunk by chunk as it arrives (never buffered whole), with the
    request's Content-Type. With a Content-Length the response has the same length and
    X-Tokens-Used = ceil(length / 4); a chunked request gets a chunked answer and no count."""
    headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
    length = request.content_length
    if length is not None:
        headers["X-Tokens-Used"] = str(prompt_tokens(length))
    response = web.StreamResponse(headers=headers)
    if length is not None:
        response.content_length = length
    await response.prepare(request)
    async for chunk in request.content.iter_chunked(ECHO_CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response


async def handle_healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


def create_app(model: str = DEFAULT_MODEL) -> web.Application:
    app = web.Application(client_max_size=MAX_CALCULATE_BYTES)
    app[MODEL] = model
    app.router.add_post("/v1/calculate", handle_calculate)
    app.router.add_get("/v1/factors", handle_factors)
    app.router.add_get("/v1/stream", handle_stream)
    app.router.add_post("/v1/echo", handle_echo)
    app.router.add_get("/healthz", handle_healthz)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="CBAM embedded-emissions example agent")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--model", default=DEFAULT_MODEL, help="model name reported in usage")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    args = p.parse_args(argv)

    async def announce(app: web.Application) -> None:
        print(f"cbam agent listening on http://{args.host}:{args.port}", flush=True)

    if args.access_log:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    app = create_app(args.model)
    app.on_startup.append(announce)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        access_log=web.access_logger if args.access_log else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
