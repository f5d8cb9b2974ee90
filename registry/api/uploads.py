"""Reading registration requests: multipart (spec, artifact, certificate_id) or JSON.

The artifact part is spooled to a temp file while hashing, and refused past the size limit
before anything is stored."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from kernel import strict_json
from registry.catalog.service import UploadedFile
from registry.catalog.spec import (
    MAX_SPEC_BYTES,
    AgentSpec,
    SpecError,
    load_yaml_document,
    validate_spec,
)
from registry.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

CHUNK = 256 * 1024
MAX_JSON_BYTES = 1024 * 1024
MAX_CERT_ID = 200
PARTS = {"spec", "artifact", "certificate_id"}


@dataclass
class Registration:
    spec: AgentSpec
    artifact: UploadedFile | None
    certificate_id: str | None


def spec_problem(exc: SpecError) -> ValidationFailed:
    return ValidationFailed(f"invalid agent spec: {exc}", errors=exc.errors)


async def _read_small(part: BodyPartReader, limit: int, name: str) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"part {name!r} is larger than {limit} bytes")
    return bytes(data)


async def _spool(part: BodyPartReader, directory: Path, limit: int) -> UploadedFile:
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"artifact is larger than the limit of {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        os.unlink(path)  # local temp file; a blocking unlink is fine here
        raise
    return UploadedFile(path=path, sha256=digest.hexdigest(), size=size)


async def _read_multipart(request: web.Request, spool_dir: Path, limit: int) -> Registration:
    try:
        reader = await request.multipart()
    except ValueError as exc:  # no boundary, or one aiohttp cannot use
        raise BadRequest(f"malformed multipart body: {exc}".splitlines()[0]) from None
    spec_text: bytes | None = None
    artifact: UploadedFile | None = None
    certificate_id: str | None = None
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name not in PARTS:
                raise ValidationFailed(
                    f"unexpected part {getattr(part, 'name', None)!r}; "
                    f"expected spec, artifact, certificate_id"
                )
            if part.name == "spec":
                spec_text = await _read_small(part, MAX_SPEC_BYTES, "spec")
            elif part.name == "certificate_id":
                raw = await _read_small(part, MAX_CERT_ID, "certificate_id")
                certificate_id = raw.decode("utf-8", "replace").strip() or None
            elif artifact is None:
                artifact = await _spool(part, spool_dir, limit)
            else:
                raise ValidationFailed("only one artifact part is allowed")
        if spec_text is None:
            raise ValidationFailed("multipart body needs a 'spec' part (YAML)")
        spec = validate_spec(load_yaml_document(spec_text))
    except SpecError as exc:
        discard(artifact)
        raise spec_problem(exc) from None
    except (HttpProcessingError, ValueError, AssertionError) as exc:
        discard(artifact)
        raise BadRequest(f"malformed multipart body: {exc}".splitlines()[0]) from None
    except BaseException:
        discard(artifact)
        raise
    return Registration(spec, artifact, certificate_id)


async def read_limited(request: web.Request, limit: int, what: str) -> bytes:
    """The (already decompressed) body, refused past ``limit`` bytes before it is all read."""
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"{what} larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"{what} larger than {limit} bytes")
    return bytes(body)


async def _read_json(request: web.Request) -> Registration:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON body larger than {MAX_JSON_BYTES} bytes")
    try:
        body: Any = strict_json.loads(await request.read())
    except strict_json.JsonBodyError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict) or "spec" not in body or set(body) - {"spec", "certificate_id"}:
        raise ValidationFailed('JSON body must be {"spec": {...}, "certificate_id"?: "..."}')
    cert = body.get("certificate_id")
    if cert is not None and (not isinstance(cert, str) or len(cert) > MAX_CERT_ID):
        raise ValidationFailed("certificate_id must be a string")
    try:
        spec = validate_spec(body["spec"])
    except SpecError as exc:
        raise spec_problem(exc) from None
    return Registration(spec, None, cert or None)


async def read_registration(request: web.Request, spool_dir: Path, limit: int) -> Registration:
    ctype = request.content_type
    if ctype == "multipart/form-data":
        return await _read_multipart(request, spool_dir, limit)
    if ctype == "application/json":
        return await _read_json(request)
    raise UnsupportedMediaType(
        f"content type {ctype!r} not supported; use multipart/form-data or application/json"
    )


def discard(upload: UploadedFile | None) -> None:
    if upload is not None:
        with contextlib.suppress(OSError):
            upload.path.unlink()


@contextlib.contextmanager
def cleanup(upload: UploadedFile | None) -> Iterator[None]:
    try:
        yield
    finally:
        discard(upload)
