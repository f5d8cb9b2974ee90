"""Compression bombs and archive tricks (issue 14, "Fuzzing and hostile input").

The registry never unpacks an artifact: it stores the bytes it was sent under their sha256 and
serves them back unchanged, and the part's filename is never used as a path. So a zip bomb, a
tar holding a symlink to /etc/passwd or a ``../`` member name is inert data, as long as its own
size is within the artifact limit. What the registry does decompress is a request body sent with
``Content-Encoding: gzip``; that is where a bomb could bite, and it is capped on the
decompressed size."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import zipfile
from collections.abc import Callable

import aiohttp
import pytest
import yaml

from tests.api.conftest import MAX_ARTIFACT, Api, make_spec

PROBLEM = "application/problem+json"
BOMB_BYTES = 64 * 1024 * 1024  # 64 MiB of zeros, ~64 KiB gzipped


def _gzip_bomb(prefix: bytes = b"") -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(prefix)
        zeros = b"\0" * (1024 * 1024)
        for _ in range(BOMB_BYTES // len(zeros)):
            gz.write(zeros)
    return out.getvalue()


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("artifact.py", b"\0" * BOMB_BYTES)
    return out.getvalue()


def _tar_with_tricks() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        link = tarfile.TarInfo("artifact.py")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        data = b"print('escaped')\n"
        evil = tarfile.TarInfo("../../../../tmp/greenlang-escaped.py")
        evil.size = len(data)
        tar.addfile(evil, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    ("path", "who", "content_type"),
    [
        ("/api/v1/audit", "service", "application/json"),
        ("/api/v1/agents", "admin", "application/json"),
        ("/api/v1/opa/logs", "service", "application/json"),
        ("/api/v1/certificates", "admin", "application/json"),
    ],
)
async def test_a_gzip_bomb_body_is_refused_unread(
    api: Api, path: str, who: str, content_type: str
) -> None:
    bomb = _gzip_bomb(b'{"events": [')
    assert len(bomb) < MAX_ARTIFACT  # small on the wire: only the decompressed size is caught
    before = await api.counts()
    headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
    resp = await api.call("POST", path, who, data=bomb, headers=headers)
    assert resp.status == 413, (resp.status, await resp.text())
    assert resp.content_type == PROBLEM
    assert (await resp.json())["type"].endswith("/payload-too-large")
    assert await api.counts() == before


async def test_a_gzip_bomb_multipart_artifact_is_capped_on_its_decompressed_size(
    api: Api,
) -> None:
    spec = yaml.safe_dump(make_spec()).encode()
    multipart = b"".join(
        [
            b'--b\r\nContent-Disposition: form-data; name="spec"; filename="agent.yaml"\r\n\r\n',
            spec,
            b'\r\n--b\r\nContent-Disposition: form-data; name="artifact"; filename="a"\r\n\r\n',
            b"\0" * (MAX_ARTIFACT + 1),
            b"\r\n--b--\r\n",
        ]
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b", "Content-Encoding": "gzip"}
    before = await api.counts()
    resp = await api.call("POST", "/api/v1/agents", data=gzip.compress(multipart), headers=headers)
    assert resp.status == 413, (resp.status, await resp.text())
    assert resp.content_type == PROBLEM
    assert await api.counts() == before
    assert not any(api.artifact_dir.parent.rglob("upload-*")), "a refused upload left a file"


@pytest.mark.parametrize("archive", [_zip_bomb, _tar_with_tricks], ids=["zip-bomb", "tar-tricks"])
async def test_archives_are_stored_as_opaque_bytes(api: Api, archive: Callable[[], bytes]) -> None:
    data = archive()
    assert _escaped() == []
    resp = await api.call("POST", "/api/v1/agents", data=_named(data, "../../../etc/cron.d/x"))
    assert resp.status == 201, await resp.text()

    got = await api.call(
        "GET", "/api/v1/agents/gl-cbam-calculator/versions/1.0.0/artifact", "viewer"
    )
    assert got.status == 200
    served = await got.read()
    assert served == data, "the registry changed (unpacked or re-encoded) the artifact"
    assert got.headers["ETag"].strip('"') == hashlib.sha256(data).hexdigest()
    stored = [p for p in api.artifact_dir.rglob("*") if p.is_file() or p.is_symlink()]
    assert len(stored) == 1 and not stored[0].is_symlink()
    assert stored[0].stat().st_size == len(data)  # never expanded on disk
    assert _escaped() == []


def _escaped() -> list[str]:
    """Where a ``../`` member name or the part's filename would have landed if used as a path."""
    return [p for p in ("/tmp/greenlang-escaped.py", "/etc/cron.d/x") if os.path.lexists(p)]


def _named(data: bytes, filename: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("spec", yaml.safe_dump(make_spec()).encode(), filename="agent.yaml")
    f.add_field("artifact", data, filename=filename)
    return f
