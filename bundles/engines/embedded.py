"""The embedded engine on OPA's own Wasm compilation of the policies, in process (wasmtime).

A bundle built by `greenlang-governance bundle build` (or served by the registry) carries
`policy.wasm`, compiled by the real OPA from the same Rego (bundles/wasm_build.py); this engine
evaluates it, so a decision is OPA's, not a re-implementation's. A bundle without the module,
or modules given as text (`EmbeddedEngine(modules, data)`, `from_paths`), is compiled with the
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
from bundles.engines.bundle_files import (
    bundle_contents,
    bundle_digest,
    read_manifest_file,
    wasm_matching_rego,
)
from bundles.engines.wasm_runtime import RECYCLE_BYTES, Instance, compiled_policy
from bundles.engines.wire import EngineError, encode_data, encode_input
from bundles.layout import DECISION_ENTRYPOINT, RATE_BANDS_ENTRYPOINT
from bundles.signing import KeyMaterial, SignatureError, verify_files
from bundles.sources import load_data, load_modules
from bundles.wasm_build import compile_wasm

__all__ = ["EmbeddedEngine", "bundle_contents", "bundle_digest"]

POOL_MAX = 8  # idle instances kept; more threads at once get fresh ones


class EmbeddedEngine:
    """PolicyEngine over an OPA-compiled policy.wasm and the bundle's data."""

    revision: str | None = None  # the bundle manifest's revision (from_bundle only)
    digest: str | None = None  # sha256 over the bundle's files (from_bundle only)

    def __init__(
        self, modules: Mapping[str, str], data: Mapping[str, Any], *, wasm: bytes | None = None
    ) -> None:
        """Evaluate `wasm` (OPA's compilation of `modules`) over `data`; without `wasm`, compile
        `modules` (name -> Rego text) with `opa build -t wasm` first."""
        if wasm is None:
            files = {f"m{i}/policy.rego": text.encode() for i, text in enumerate(modules.values())}
            try:
                wasm = compile_wasm(files)
            except BundleError as exc:
                raise EngineError(f"cannot build the policy bundle: {exc}") from None
        self._policy_wasm = wasm
        self._policy = compiled_policy(wasm)
        self._data = encode_data(dict(data)).encode()
        self._pool: list[Instance] = []
        self._lock = threading.Lock()
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
        """Load an OPA bundle archive like `opa run --bundle` .

        Every `.rego` file is a module; every `<path>/data.json` (or `data.yaml`) is merged at
        `data.<path>`; `policy.wasm` is evaluated when the manifest ties it to the bundle's Rego
        (metadata.policy_wasm.rego_sha256), otherwise the Rego is compiled. With
        `verification_key` the bundle must carry a `.signatures.json` that verifies (as OPA's
        `--verification-key`, `--verification-key-alg`, `--scope`, `--exclude-files-verify`)
        or it is refused; the signature covers `policy.wasm`. When `previous` was loaded from a
        bundle with the same files it is returned as it is.

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
        wasm = wasm_matching_rego(files, read_manifest_file(files))
        engine = cls(modules, data, wasm=wasm)
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
