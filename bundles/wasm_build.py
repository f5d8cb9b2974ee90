"""Compile a bundle's Rego to `policy.wasm` with the real OPA (`opa build -t wasm`).

The module is what the embedded engine evaluates (bundles/engines/wasm.py). It goes into the
bundle as `/policy.wasm` but is *not* listed under `wasm` in the `.manifest`: an OPA built
with `go install` has no Wasm runtime and refuses a bundle whose manifest lists modules, while
it serves a bundle that only carries the file. The signature covers it like any other file.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bundles.bundle import BundleError
from bundles.layout import DECISION_ENTRYPOINT, ENTRYPOINTS
from bundles.testing import find_opa

WASM_FILE = "policy.wasm"  # one of bundle.DERIVED_FILES
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+([A-Za-z_][\w.]*)", re.M)
BUILD_TIMEOUT_S = 120.0


def compile_wasm(
    files: Mapping[str, bytes],
    *,
    entrypoints: Sequence[str] | None = None,
    opa: str | None = None,
) -> bytes:
    """`policy.wasm` for a bundle's content files (name -> bytes; .rego and data files).

    The entrypoints default to greenlang/decision and those of ENTRYPOINTS whose package (or
    parent package) the modules declare. Raises BundleError when OPA is missing or refuses
    the policies."""
    if entrypoints is None:
        entrypoints = declared_entrypoints(files)
    try:
        binary = opa or find_opa()
    except FileNotFoundError as exc:
        raise BundleError(f"cannot compile policy.wasm: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="gl-wasm-") as tmp:
        root = Path(tmp) / "src"
        for name, content in files.items():
            if name.endswith(".rego") or name.rsplit("/", 1)[-1] in ("data.json", "data.yaml"):
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        root.mkdir(exist_ok=True)
        out = Path(tmp) / "wasm.tar.gz"
        command = [binary, "build", "-t", "wasm", "-b", str(root), "-o", str(out)]
        for entrypoint in entrypoints:
            command += ["-e", entrypoint]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BundleError(f"cannot compile policy.wasm: {exc}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip()[:2000]
            raise BundleError(f"opa build -t wasm failed: {detail}")
        return _wasm_of(out.read_bytes())


def rego_digest(files: Mapping[str, bytes]) -> str:
    """sha256 over the .rego files (names and contents) policy.wasm is compiled from; the
    bundle's manifest carries it (metadata.policy_wasm.rego_sha256) so an engine can tell a
    module that no longer matches the Rego beside it."""
    h = hashlib.sha256()
    for name in sorted(files):
        if name.endswith(".rego"):
            h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def wasm_metadata(files: Mapping[str, bytes]) -> dict[str, Any]:
    """The manifest metadata that ties policy.wasm to the Rego of `files`."""
    return {"policy_wasm": {"rego_sha256": rego_digest(files)}}


def declared_entrypoints(files: Mapping[str, bytes]) -> list[str]:
    """greenlang/decision, and each other entrypoint that some module's package can hold."""
    packages = {
        m.group(1).replace(".", "/")
        for name, content in files.items()
        if name.endswith(".rego")
        for m in _PACKAGE.finditer(content.decode("utf-8", "replace"))
    }
    return [
        e
        for e in ENTRYPOINTS
        if e == DECISION_ENTRYPOINT or e in packages or e.rsplit("/", 1)[0] in packages
    ]


def _wasm_of(archive: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            if member.name.lstrip("./") == WASM_FILE:
                extracted = tar.extractfile(member)
                if extracted is not None:
                    return extracted.read()
    raise BundleError("opa build -t wasm wrote no policy.wasm")
