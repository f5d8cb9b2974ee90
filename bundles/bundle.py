"""Build standard OPA bundles (``.tar.gz``) from Rego directories and JSON data documents.

Layout written (names carry no leading ``/``; OPA accepts both forms):

* every ``.rego`` file of a :class:`RegoDir` at ``<prefix>/<path relative to the directory>``,
  and every :class:`RegoModule` at its given path;
* every :class:`DataDocument` at ``<data_path>/data.json`` (``data.json`` for the root path);
* every :class:`BinaryFile` (the compiled ``policy.wasm``) as it is;
* ``.manifest`` with ``revision``, ``roots``, ``rego_version: 1`` and optional ``metadata``;
* ``.signatures.json`` when a :class:`~bundles.signing.SigningConfig` is given.

The revision is a content hash (see :func:`compute_revision`): the same inputs always give the
same revision and any change to a file name, a file's bytes, the roots or the metadata gives a
new one. The archive itself is deterministic (sorted entries, mtime/uid/gid 0, mode 0644, gzip
mtime 0), so identical inputs produce byte-identical bundles, signed or not.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundles.signing import SIGNATURES_FILE, SigningConfig, signatures_document

MANIFEST_FILE = ".manifest"
DATA_FILE = "data.json"
# Compiled from the bundle's Rego by OPA, whose Wasm compiler does not give the same bytes twice;
# the manifest's `policy_wasm.rego_sha256` ties it to the Rego, so the revision leaves it out
# (the same policies and data: the same revision, in every registry process and every rebuild).
DERIVED_FILES = frozenset({"policy.wasm"})
REVISION_SCHEME = b"greenlang-bundle-revision/v1\n"
DEFAULT_MAX_BUNDLE_BYTES = 1 << 30  # like OPA: refuse to inflate more than 1 GiB

_PACKAGE_RE = re.compile(
    r"^[ \t]*package[ \t]+([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)[ \t]*(?:#.*)?$", re.M
)
_SEGMENT_RE = re.compile(r"^[^/\x00]+$")


class BundleError(ValueError):
    """The inputs cannot form a valid bundle, or a file is not a readable bundle."""


@dataclass(frozen=True)
class RegoDir:
    """Every ``.rego`` file under ``directory`` (recursively), placed under ``prefix``.

    Hidden files and directories are skipped; so are ``*_test.rego`` files unless
    ``include_tests`` is set (tests belong to ``opa test``, not to the served bundle).
    With ``include_data``, ``data.json`` files are taken too, at the same relative place (so a
    directory laid out for OPA's directory loader, like the compiler's output, maps 1:1); they
    are re-encoded canonically."""

    directory: Path
    prefix: str = ""
    include_tests: bool = False
    include_data: bool = False


@dataclass(frozen=True)
class RegoModule:
    """One Rego module given as text (e.g. compiled in memory), placed at ``path``."""

    path: str
    source: str


@dataclass(frozen=True)
class DataDocument:
    """A JSON value published at ``data.<data_path with / as .>``; ``""`` is the data root."""

    data_path: str
    value: Any


@dataclass(frozen=True)
class BinaryFile:
    """A file carried as it is (the compiled ``policy.wasm``), placed at ``path``."""

    path: str
    content: bytes


BundleSource = RegoDir | RegoModule | DataDocument | BinaryFile


@dataclass(frozen=True)
class BuiltBundle:
    """A bundle rendered in memory: the archive bytes and what is in it."""

    content: bytes
    revision: str
    files: tuple[str, ...]
    roots: tuple[str, ...]
    signed: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class BundleInfo:
    """A bundle written to disk."""

    path: Path
    revision: str
    sha256: str
    files: tuple[str, ...]
    roots: tuple[str, ...] = field(default=())
    signed: bool = False
    size: int = 0


# ---------------------------------------------------------------------------------------------
# building


def build_bundle(
    sources: Sequence[BundleSource],
    output: Path,
    *,
    roots: Sequence[str],
    signing: SigningConfig | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> BundleInfo:
    """Write a standard OPA bundle to ``output`` (atomically) and describe it."""
    built = build_bundle_bytes(sources, roots=roots, signing=signing, metadata=metadata)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(built.content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return BundleInfo(
        path=output,
        revision=built.revision,
        sha256=built.sha256,
        files=built.files,
        roots=built.roots,
        signed=built.signed,
        size=len(built.content),
    )


def build_bundle_bytes(
    sources: Sequence[BundleSource],
    *,
    roots: Sequence[str],
    signing: SigningConfig | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> BuiltBundle:
    """Render a bundle in memory (what :func:`build_bundle` writes)."""
    norm_roots = _normalize_roots(roots)
    files = collect_files(sources)
    _check_roots(files, norm_roots)

    manifest: dict[str, Any] = {"roots": list(norm_roots), "rego_version": 1}
    if metadata:
        manifest["metadata"] = _json_roundtrip(dict(metadata), "manifest metadata")
    manifest["revision"] = compute_revision(files, manifest)
    files[MANIFEST_FILE] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    if signing is not None:
        files[SIGNATURES_FILE] = signatures_document(files, signing)

    content = pack_files(files)
    return BuiltBundle(
        content=content,
        revision=manifest["revision"],
        files=tuple(sorted(files)),
        roots=norm_roots,
        signed=signing is not None,
    )


def collect_files(sources: Iterable[BundleSource]) -> dict[str, bytes]:
    """The bundle's content files (no ``.manifest``), name → bytes. Collisions are errors."""
    files: dict[str, bytes] = {}
    origin: dict[str, str] = {}

    def add(name: str, content: bytes, where: str) -> None:
        if name in files:
            raise BundleError(
                f"two sources map to bundle file {name!r}: {origin[name]} and {where}"
            )
        if name in (MANIFEST_FILE, SIGNATURES_FILE):
            raise BundleError(f"{where}: {name!r} is reserved for the bundle itself")
        files[name] = content
        origin[name] = where

    for src in sources:
        if isinstance(src, RegoDir):
            directory = Path(src.directory)
            if not directory.is_dir():
                raise BundleError(f"rego source {directory} is not a directory")
            prefix = _normalize_path(src.prefix, f"prefix of {directory}", allow_empty=True)
            for rel in _source_files(directory, src.include_tests, src.include_data):
                name = f"{prefix}/{rel}" if prefix else rel
                raw = (directory / rel).read_bytes()
                if rel.endswith(".json"):
                    try:
                        raw = encode_data(json.loads(raw), str(directory / rel))
                    except ValueError as e:
                        raise BundleError(f"{directory / rel}: not valid JSON: {e}") from e
                    if name == DATA_FILE and not raw.startswith(b"{"):
                        raise BundleError(f"{directory / rel}: root data must be a JSON object")
                add(name, raw, str(directory / rel))
        elif isinstance(src, RegoModule):
            name = _normalize_path(src.path, "rego module path")
            if not name.endswith(".rego"):
                raise BundleError(f"rego module path {src.path!r} must end in .rego")
            add(name, src.source.encode(), f"module {name}")
        elif isinstance(src, DataDocument):
            dpath = _normalize_path(src.data_path, "data path", allow_empty=True)
            if not dpath and not isinstance(src.value, Mapping):
                raise BundleError("a data document at the data root must be a JSON object")
            name = f"{dpath}/{DATA_FILE}" if dpath else DATA_FILE
            add(name, encode_data(src.value, f"data document {dpath or '<root>'}"), f"data {dpath}")
        elif isinstance(src, BinaryFile):
            name = _normalize_path(src.path, "file path")
            add(name, bytes(src.content), f"file {name}")
        else:  # pragma: no cover - guarded by the type checker
            raise BundleError(f"unknown bundle source {src!r}")
    return files


def compute_revision(files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> str:
    """The content-hash revision of a bundle.

    sha256 over the scheme tag, then for every content file (but DERIVED_FILES) in name order
    ``name NUL sha256hex(content) LF``, then ``.manifest NUL sha256hex(manifest) LF`` where the
    manifest is the canonical JSON (sorted keys, compact) of the manifest without ``revision``
    and without signatures — so roots and metadata count as content too."""
    h = hashlib.sha256(REVISION_SCHEME)
    for name in sorted(files):
        if name in (MANIFEST_FILE, SIGNATURES_FILE) or name in DERIVED_FILES:
            continue
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).hexdigest().encode() + b"\n")
    rest = {k: v for k, v in manifest.items() if k != "revision"}
    canon = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    h.update(MANIFEST_FILE.encode() + b"\0" + hashlib.sha256(canon).hexdigest().encode() + b"\n")
    return h.hexdigest()


def encode_data(value: Any, what: str = "data document") -> bytes:
    """Deterministic JSON for a data document: sorted keys, compact, UTF-8, no NaN/Infinity."""
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as e:
        raise BundleError(f"{what} is not JSON-serializable: {e}") from e


def pack_files(files: Mapping[str, bytes]) -> bytes:
    """A deterministic ``.tar.gz`` of ``files``: sorted names, fixed metadata, gzip mtime 0."""
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(tar_buf.getvalue())
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# reading


def read_bundle_files(
    path: Path | str | bytes, *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
) -> dict[str, bytes]:
    """Every regular file of a bundle archive, name (without leading ``/`` or ``./``) → bytes.

    ``path`` is the archive's path, or the archive itself as bytes."""
    files: dict[str, bytes] = {}
    total = 0
    if isinstance(path, bytes):
        name, archive = None, io.BytesIO(path)
    else:
        name, archive = path, None
    where = _where(path)
    try:
        with tarfile.open(name, "r:gz", fileobj=archive) as tar:
            for member in tar:
                if not member.isreg():
                    continue
                total += member.size
                if total > max_bytes:
                    raise BundleError(f"{where}: bundle inflates to more than {max_bytes} bytes")
                entry = _archive_name(member.name)
                extracted = tar.extractfile(member)
                if extracted is None:  # pragma: no cover - regular files always have data
                    continue
                if entry in files:
                    raise BundleError(f"{where}: duplicate bundle entry {entry!r}")
                files[entry] = extracted.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BundleError(f"{where}: not a readable bundle archive: {e}") from e
    return files


def _where(path: Path | str | bytes) -> str:
    return "<bundle bytes>" if isinstance(path, bytes) else str(path)


def read_manifest(path: Path | str | bytes) -> dict[str, Any]:
    """The parsed ``.manifest`` of a bundle archive (a path, or the archive as bytes)."""
    files = read_bundle_files(path)
    raw = files.get(MANIFEST_FILE)
    where = _where(path)
    if raw is None:
        raise BundleError(f"{where}: bundle has no {MANIFEST_FILE}")
    try:
        manifest = json.loads(raw)
    except ValueError as e:
        raise BundleError(f"{where}: {MANIFEST_FILE} is not JSON: {e}") from e
    if not isinstance(manifest, dict):
        raise BundleError(f"{where}: {MANIFEST_FILE} is not a JSON object")
    return manifest


def read_revision(path: Path | str | bytes) -> str:
    revision = read_manifest(path).get("revision")
    if not isinstance(revision, str):
        raise BundleError(f"{_where(path)}: {MANIFEST_FILE} has no string revision")
    return revision


# ---------------------------------------------------------------------------------------------
# helpers


def _archive_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _normalize_path(raw: str, what: str, *, allow_empty: bool = False) -> str:
    path = raw.replace("\\", "/").strip("/")
    if not path:
        if allow_empty:
            return ""
        raise BundleError(f"{what} is empty")
    for seg in path.split("/"):
        if seg in ("", ".", "..") or not _SEGMENT_RE.match(seg):
            raise BundleError(f"{what} {raw!r} has an invalid segment {seg!r}")
    return path


def _normalize_roots(roots: Sequence[str]) -> tuple[str, ...]:
    if isinstance(roots, str):
        raise BundleError("roots must be a list of paths, not a string")
    if not roots:
        raise BundleError("a bundle needs at least one root")
    out: list[str] = []
    for r in roots:
        norm = r.strip("/")
        if norm:
            norm = _normalize_path(norm, "root")
        if norm not in out:
            out.append(norm)
    for i, a in enumerate(out):
        for b in out[i + 1 :]:
            if _root_contains(a, b) or _root_contains(b, a):
                raise BundleError(f"bundle roots overlap: {a!r} and {b!r}")
    return tuple(sorted(out))


def _root_contains(root: str, path: str) -> bool:
    if root == "":
        return True
    r, p = root.split("/"), path.split("/")
    return len(r) <= len(p) and p[: len(r)] == r


def _check_roots(files: Mapping[str, bytes], roots: Sequence[str]) -> None:
    """What OPA checks at activation, checked at build time with the file named."""
    for name, content in files.items():
        if name.endswith(".rego"):
            m = _PACKAGE_RE.search(content.decode("utf-8", errors="replace"))
            if m is None:
                continue  # unusual package syntax: leave the check to OPA
            pkg = m.group(1).replace(".", "/")
            if not any(_root_contains(r, pkg) for r in roots):
                raise BundleError(
                    f"{name}: package {m.group(1)} is outside the bundle roots {list(roots)}"
                )
        elif name == DATA_FILE or name.endswith("/" + DATA_FILE):
            dpath = name[: -len(DATA_FILE)].strip("/")
            if dpath and any(_root_contains(r, dpath) for r in roots):
                continue
            # a document above the roots is fine only if every leaf key lies inside one
            value = json.loads(content)
            _check_data_tree(value, dpath, roots, name)


def _check_data_tree(value: Any, path: str, roots: Sequence[str], name: str) -> None:
    if path and any(_root_contains(r, path) for r in roots):
        return
    if isinstance(value, dict) and any(_root_contains(path, r) for r in roots):
        for key, child in value.items():
            _check_data_tree(child, f"{path}/{key}" if path else key, roots, name)
        return
    raise BundleError(f"{name}: data at /{path} is outside the bundle roots {list(roots)}")


def _source_files(directory: Path, include_tests: bool, include_data: bool) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in filenames:
            if fn.startswith("."):
                continue
            if fn == DATA_FILE:
                if not include_data:
                    continue
            elif not fn.endswith(".rego"):
                continue
            elif not include_tests and fn.endswith("_test.rego"):
                continue
            rel = (Path(dirpath) / fn).relative_to(directory).as_posix()
            found.append(rel)
    return sorted(found)


def _json_roundtrip(value: Any, what: str) -> Any:
    return json.loads(encode_data(value, what))
