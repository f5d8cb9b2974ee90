"""An agent that fails on purpose, for the sidecar's fault tests (tests/chaos/test_agent_faults.py).

A raw asyncio HTTP/1.1 server (no framework, so it can misbehave at the byte level). The request
path picks the behaviour; ``?type=json`` answers ``application/json`` (which the sidecar reads
whole before answering), anything else ``text/event-stream`` (which it streams through):

- ``/ok``              200 with a small body, keep-alive
- ``/crash``           headers and part of the body, then the process dies (``os._exit``)
- ``/hang``            reads the request, never answers
- ``/stall``           headers and part of the body, then silence (connection kept open)
- ``/garbage``         bytes that are not HTTP, then close
- ``/truncated``       ``Content-Length: 1000`` and a few bytes of body, then close
- ``/close``           closes the connection without answering

Run: ``python -m tests.support.faulty_agent --port N`` (``/healthz`` is ``/ok``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from urllib.parse import parse_qs, urlsplit

PART = b"data: first event\n\n"


def _head(status: str, ctype: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{framing}\r\n\r\n".encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str] | None:
    """The request's path and ``type`` query value; None when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    target = lines[0].split(" ")[1]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    url = urlsplit(target)
    return url.path, parse_qs(url.query).get("type", ["stream"])[0]


async def _answer(path: str, kind: str, writer: asyncio.StreamWriter) -> bool:
    """Behave as ``path`` says; True when the connection may serve another request."""
    json = kind == "json"
    ctype = "application/json" if json else "text/event-stream"
    body = b'{"ok": true}' if json else PART
    if path in ("/ok", "/healthz"):
        writer.write(_head("200 OK", ctype, len(body)) + body)
        await writer.drain()
        return True
    if path in ("/crash", "/stall"):
        part = b'{"result": [1, 2, 3' if json else PART
        start = _head("200 OK", ctype, 1000 if json else None)
        writer.write(start + (part if json else _chunk(part)))
        await writer.drain()
        if path == "/crash":
            os._exit(1)  # the process dies mid-answer, as a crashing agent does
        await asyncio.Event().wait()
    if path == "/hang":
        await asyncio.Event().wait()
    if path == "/garbage":
        writer.write(b"\x00\x17\x03 this is not HTTP at all\r\n\r\n")
    elif path == "/truncated":
        writer.write(_head("200 OK", ctype, 1000) + (b'{"result": 1' if json else PART))
    await writer.drain()
    return False  # /close and the others above: close without (more of) an answer


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while (request := await _read_request(reader)) is not None:
            if not await _answer(*request, writer):
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
