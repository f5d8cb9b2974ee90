"""What the engines read from a bundle archive's files: modules, merged data, revision, digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from bundles.engines.wire import EngineError
from bundles.signing import SIGNATURES_FILE
from bundles.sources import SourceError, merge_into
from bundles.wasm_build import WASM_FILE, rego_digest

MANIFEST_FILE = ".manifest"
DATA_FILES = ("data.json", "data.yaml")


def bundle_digest(files: Mapping[str, bytes]) -> str:
    """sha256 over a bundle's files (names and contents), signatures left out."""
    h = hashlib.sha256()
    for name in sorted(files):
        if name != SIGNATURES_FILE:
            h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def wasm_matching_rego(files: Mapping[str, bytes], manifest: Any) -> bytes | None:
    """The bundle's policy.wasm when its manifest says it was compiled from the bundle's Rego
    (metadata.policy_wasm.rego_sha256); None otherwise (the Rego must be compiled again)."""
    wasm = files.get(WASM_FILE)
    meta = manifest.get("metadata") if isinstance(manifest, dict) else None
    recorded = meta.get("policy_wasm", {}) if isinstance(meta, dict) else {}
    if wasm is None or not isinstance(recorded, dict):
        return None
    return wasm if recorded.get("rego_sha256") == rego_digest(files) else None


def read_manifest_file(files: Mapping[str, bytes]) -> Any:
    try:
        return json.loads(files.get(MANIFEST_FILE, b"null"))
    except ValueError:
        return None


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
