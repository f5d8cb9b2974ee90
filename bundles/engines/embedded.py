"""The embedded engine: rego-cpp through regopy, in process.

Modules and data are compiled into a regopy Bundle once, when the engine is made (re-adding
modules per query costs about 800 µs, a pre-built bundle about 70 µs). Each decision only sets
the input and runs the bundle's `greenlang/decision` entrypoint. Build a new engine for a new
bundle revision: `EmbeddedEngine.from_bundle(archive, previous=engine)` keeps `engine` when the
archive holds the same files, so polling an unchanged bundle never recompiles.

The input is handed to regopy as a value built through its C API, not as JSON text: regopy
parses JSON with its full Rego parser (about 5 µs per value, 140 µs for a typical input) while
building the value costs a third of that. Only values both paths give the same term are built
that way; an input with a float, or a string regopy would keep JSON-escaped (a quote, a
backslash, a control character), goes in as JSON text as before (`regopy.Input` would pass
floats through a 6-decimal string).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import regopy
import yaml
from regopy import rego_shared
from regopy.rego_shared import (
    rego_bundle_query_entrypoint,
    rego_free_output,
    rego_output_ok,
    rego_output_string,
)

from bundles.bundle import BundleError, read_bundle_files
from bundles.engines.wire import EngineError, canonical, encode_data, encode_input
from bundles.layout import DECISION_ENTRYPOINT, ENTRYPOINTS
from bundles.signing import SIGNATURES_FILE, KeyMaterial, SignatureError, verify_files
from bundles.sources import SourceError, load_data, load_modules, merge_into

MANIFEST_FILE = ".manifest"
DATA_FILES = ("data.json", "data.yaml")

_C = rego_shared.rego  # the ctypes library, argtypes/restype set by regopy
# A string that JSON text would carry escaped: regopy keeps escapes undecoded, so such a string
# is only the same term when it goes in as JSON (see docs/policies.md, engine differences).
_ESCAPED = re.compile(r'["\\\x00-\x1f]')


class _AsJson(Exception):
    """The input holds a value that must go in as JSON text."""


class EmbeddedEngine:
    """PolicyEngine over a regopy bundle built once from `modules` and `data`."""

    revision: str | None = None  # the bundle manifest's revision (from_bundle only)
    digest: str | None = None  # sha256 over the bundle's files (from_bundle only)

    def __init__(self, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        builder = regopy.Interpreter()
        try:
            builder.add_data_json(encode_data(dict(data)))
            for name, source in sorted(modules.items()):
                builder.add_module(name, source)
            self._bundle = builder.build(None, list(ENTRYPOINTS))
        except regopy.RegoError as exc:
            raise EngineError(f"cannot build the policy bundle: {exc}") from None
        if not self._bundle.ok():
            raise EngineError("cannot build the policy bundle")
        self._interpreter = regopy.Interpreter()
        self._lock = threading.Lock()  # one interpreter holds one input at a time
        self.decide_sync({})  # fail now, not on the first request, if there is no decision

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str]) -> EmbeddedEngine:
        """Load like `opa run PATH...`: every .rego module (tests excluded) and .json data."""
        paths = list(paths)
        return cls(load_modules(paths), load_data(paths))

    @classmethod
    def from_bundle(
        cls,
        bundle: Path | str | bytes,
        *,
        verification_key: KeyMaterial | None = None,
        algorithm: str = "RS256",
        scope: str | None = None,
        exclude_files: Sequence[str] = (),
        previous: EmbeddedEngine | None = None,
    ) -> EmbeddedEngine:
        """Load an OPA bundle archive (a path, or the archive's bytes) like `opa run --bundle`.

        Every `.rego` file is a module; every `<path>/data.json` (or `data.yaml`) is merged at
        `data.<path>`. With `verification_key` the bundle must carry a `.signatures.json` that
        verifies (as OPA's `--verification-key`, `--verification-key-alg`, `--scope`,
        `--exclude-files-verify`) or it is refused. When `previous` was loaded from a bundle
        with the same files it is returned as it is, without compiling again.

        Raises EngineError for an unreadable, unsigned, tampered or unusable bundle."""
        try:
            files = read_bundle_files(bundle)
        except BundleError as exc:
            raise EngineError(f"cannot read the bundle: {exc}") from None
        if verification_key is not None:
            try:
                verify_files(
                    files, verification_key, algorithm=algorithm, scope=scope, exclude=exclude_files
                )
            except SignatureError as exc:
                raise EngineError(f"bundle refused: {exc}") from exc
        digest = bundle_digest(files)
        if previous is not None and previous.digest == digest:
            return previous
        modules, data, revision = bundle_contents(files)
        engine = cls(modules, data)
        engine.revision, engine.digest = revision, digest
        return engine

    def decide_sync(
        self, input: dict[str, Any], entrypoint: str = DECISION_ENTRYPOINT
    ) -> dict[str, Any]:
        """The decision for `input` (blocking; regopy evaluates in well under a millisecond)."""
        value = canonical(input)
        with self._lock:
            try:
                self._set_input(value)
                # The C API directly: regopy.Output loses the error text of a failed query.
                raw = rego_bundle_query_entrypoint(
                    self._interpreter._impl, self._bundle._impl, entrypoint
                )
                try:
                    ok, text = bool(rego_output_ok(raw)), str(rego_output_string(raw))
                finally:
                    rego_free_output(raw)
            except regopy.RegoError as exc:
                raise EngineError(f"evaluation failed: {exc}") from None
        return _decision(ok, text)

    def _set_input(self, value: Any) -> None:
        handle = _C.regoNewInput()
        try:
            if _build(handle, value):
                raise regopy.RegoError("cannot build the input")
            code = _C.regoSetInput(self._interpreter._impl, handle)
            if code:
                raise regopy.RegoError(rego_shared.rego_get_error(self._interpreter._impl), code)
        except _AsJson:
            # JSON text, not regopy.Input: Input passes floats through a 6-decimal string.
            self._interpreter.set_input_term(encode_input(value))
        finally:
            _C.regoFreeInput(handle)

    async def decide(
        self, input: dict[str, Any], entrypoint: str = DECISION_ENTRYPOINT
    ) -> dict[str, Any]:
        # Runs inline: a decision costs less than a hop to a worker thread and back.
        return self.decide_sync(input, entrypoint)

    async def close(self) -> None:
        return None


def _build(handle: ctypes.c_void_p, value: Any) -> int:
    """Push `value` (canonical JSON data) onto a regopy input; non-zero on a C API error.

    Raises _AsJson for a value that must go in as JSON text instead."""
    kind = type(value)
    if kind is str:
        if _ESCAPED.search(value):
            raise _AsJson
        return _C.regoInputString(handle, value.encode())
    if kind is dict:
        for key, item in value.items():
            if _ESCAPED.search(key):
                raise _AsJson
            if (
                _C.regoInputString(handle, key.encode())
                or _build(handle, item)
                or _C.regoInputObjectItem(handle)
            ):
                return 1
        return _C.regoInputObject(handle, len(value))
    if kind is int:
        return _C.regoInputInt(handle, value)
    if kind is bool:
        return _C.regoInputBoolean(handle, value)
    if value is None:
        return _C.regoInputNull(handle)
    if kind is list:
        for item in value:
            if _build(handle, item):
                return 1
        return _C.regoInputArray(handle, len(value))
    raise _AsJson  # a float


def bundle_digest(files: Mapping[str, bytes]) -> str:
    """sha256 over a bundle's files (names and contents), signatures left out."""
    h = hashlib.sha256()
    for name in sorted(files):
        if name != SIGNATURES_FILE:
            h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def bundle_contents(
    files: Mapping[str, bytes],
) -> tuple[dict[str, str], dict[str, Any], str | None]:
    """(modules, merged data, manifest revision) of a bundle's files, as OPA reads them."""
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    revision: str | None = None
    for name in sorted(files):
        raw = files[name]
        base = name.rsplit("/", 1)[-1]
        try:
            if name == MANIFEST_FILE:
                manifest = json.loads(raw)
                if isinstance(manifest, dict) and isinstance(manifest.get("revision"), str):
                    revision = manifest["revision"]
            elif name.endswith(".rego"):
                modules[name] = raw.decode("utf-8")
            elif base in DATA_FILES:
                value = json.loads(raw) if base == "data.json" else yaml.safe_load(raw)
                prefix = tuple(name.split("/")[:-1])
                if not prefix and not isinstance(value, dict):
                    raise SourceError("data at the root of the bundle must be an object")
                if prefix:  # merge_into merges objects; wrap so any value can sit at a path
                    *parents, leaf = prefix
                    merge_into(data, tuple(parents), {leaf: value}, name)
                else:
                    merge_into(data, (), value, name)
        except (ValueError, UnicodeDecodeError, yaml.YAMLError, SourceError) as exc:
            raise EngineError(f"bundle file {name}: {exc}") from None
    return modules, data, revision


def _decision(ok: bool, text: str) -> dict[str, Any]:
    if not ok:
        raise EngineError(f"evaluation failed: {text}")
    if text == "undefined":
        raise EngineError("the decision is undefined (is greenlang/decision loaded?)")
    try:
        output = json.loads(text)
    except json.JSONDecodeError:
        raise EngineError(f"evaluation failed: {text.strip()}") from None
    expressions = output.get("expressions") if isinstance(output, dict) else None
    if not expressions or not isinstance(expressions[0], dict):
        raise EngineError(f"unexpected decision output: {text[:200]}")
    decision: dict[str, Any] = expressions[0]
    return decision
