"""The embedded engine on OPA's own Wasm compilation of the policies, in process (wasmtime).

A bundle built by `greenlang-governance bundle build` (or served by the registry) carries
`policy.wasm`, compiled by the real OPA from the same Rego (bundles/wasm_build.py); this engine
evaluates it, so a decision is OPA's, not a re-implementation's. A bundle without the module,
or modules given as text (`WasmEngine(modules, data)`, `from_paths`), is compiled with the
`opa` binary first.

Thread-safe: instances sit in a pool and each decision takes one for itself; an instance whose
linear memory grew past RECYCLE_BYTES (a large input) is dropped instead of going back. Any
trap, abort or unreadable result is an EngineError: no decision, the caller fails closed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bundles.bundle import BundleError, read_bundle_files
from bundles.engines.embedded import bundle_contents, bundle_digest
from bundles.engines.wasm_runtime import RECYCLE_BYTES, Instance, compiled_policy
from bundles.engines.wire import EngineError, encode_data, encode_input
from bundles.layout import DECISION_ENTRYPOINT, RATE_BANDS_ENTRYPOINT
from bundles.signing import KeyMaterial, SignatureError, verify_files
from bundles.sources import load_data, load_modules
from bundles.wasm_build import WASM_FILE, compile_wasm

POOL_MAX = 8  # idle instances kept; more threads at once get fresh ones


class WasmEngine:
    """PolicyEngine over an OPA-compiled policy.wasm and the bundle's data."""

    revision: str | None = None  # the bundle manifest's revision (from_bundle only)
    digest: str | None = None  # sha256 over the bundle's files (from_bundle only)

    def __init__(self, modules: Mapping[str, str], data: Mapping[str, Any]) -> None:
        """Compile `modules` (name -> Rego text) with `opa build -t wasm` and load `data`."""
        files = {f"m{i}/policy.rego": text.encode() for i, text in enumerate(modules.values())}
        try:
            wasm = compile_wasm(files)
        except BundleError as exc:
            raise EngineError(f"cannot build the policy bundle: {exc}") from None
        self._setup(wasm, data)

    @classmethod
    def from_wasm(cls, wasm: bytes, data: Mapping[str, Any]) -> WasmEngine:
        engine = cls.__new__(cls)
        engine._setup(wasm, data)
        return engine

    def _setup(self, wasm: bytes, data: Mapping[str, Any]) -> None:
        self._policy = compiled_policy(wasm)
        self._data = encode_data(dict(data)).encode()
        self._pool: list[Instance] = []
        self._lock = threading.Lock()
        self.decide_sync({})  # fail now, not on the first request, if there is no decision

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str]) -> WasmEngine:
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
        previous: Any = None,
    ) -> WasmEngine:
        """Load an OPA bundle archive like `opa run --bundle` (see EmbeddedEngine.from_bundle:
        same verification, same reuse of `previous` for an unchanged bundle)."""
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
        if isinstance(previous, WasmEngine) and previous.digest == digest:
            return previous
        modules, data, revision = bundle_contents(files)
        wasm = files.get(WASM_FILE)
        engine = cls(modules, data) if wasm is None else cls.from_wasm(wasm, data)
        engine.revision, engine.digest = revision, digest
        return engine

    def decide_sync(
        self, input: dict[str, Any], entrypoint: str = DECISION_ENTRYPOINT
    ) -> dict[str, Any]:
        """The document at `entrypoint` for `input` (blocking; tens of microseconds)."""
        number = self._policy.entrypoints.get(entrypoint)
        if number is None:
            raise EngineError(f"policy.wasm has no entrypoint {entrypoint}")
        text = encode_input(input).encode()
        instance = self._take()
        keep = False
        try:
            raw = instance.evaluate(number, text)
            keep = instance.memory_bytes() <= RECYCLE_BYTES
        finally:
            if keep:
                self._give(instance)
        return _decision(raw, entrypoint)

    def _take(self) -> Instance:
        with self._lock:
            if self._pool:
                return self._pool.pop()
        return Instance(self._policy, self._data)

    def _give(self, instance: Instance) -> None:
        with self._lock:
            if len(self._pool) < POOL_MAX:
                self._pool.append(instance)

    async def decide(
        self, input: dict[str, Any], entrypoint: str = DECISION_ENTRYPOINT
    ) -> dict[str, Any]:
        # Runs inline: a decision costs less than a hop to a worker thread and back.
        return self.decide_sync(input, entrypoint)

    async def close(self) -> None:
        with self._lock:
            self._pool.clear()


def _decision(raw: bytes, entrypoint: str) -> dict[str, Any]:
    try:
        results = json.loads(raw)
    except ValueError:
        raise EngineError(f"unreadable result: {raw[:200]!r}") from None
    if not results:
        raise EngineError(f"the decision is undefined (is {entrypoint} loaded?)")
    document = results[0].get("result") if isinstance(results[0], dict) else None
    if not isinstance(document, dict):
        raise EngineError(f"unexpected decision output: {raw[:200]!r}")
    if entrypoint == RATE_BANDS_ENTRYPOINT and isinstance(document.get("breakpoints"), list):
        # a set in Rego: Wasm lists it in hash order, OPA sorted
        document["breakpoints"] = sorted(document["breakpoints"])
    return document
