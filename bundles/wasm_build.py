"""Compile a bundle's Rego to `policy.wasm` with the real OPA (`opa build -t wasm`).

The module is what the embedded engine evaluates (bundles/engines/wasm.py). It goes into the
bundle as `/policy.wasm` but is *not* listed under `wasm` in the `.manifest`: an OPA built
with `go install` has no Wasm runtime and refuses a bundle whose manifest lists modules, while
it serves a bundle that only carries the file. The signature covers it like any other file.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bundles.bundle import BundleError
from bundles.layout import ENTRYPOINTS
from bundles.testing import find_opa

WASM_FILE = "policy.wasm"
BUILD_TIMEOUT_S = 120.0


def compile_wasm(
    files: Mapping[str, bytes],
    *,
    entrypoints: Sequence[str] = ENTRYPOINTS,
    opa: str | None = None,
) -> bytes:
    """`policy.wasm` for a bundle's content files (name -> bytes; .rego and data files).

    Raises BundleError when OPA is missing or refuses the policies."""
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


def _wasm_of(archive: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            if member.name.lstrip("./") == WASM_FILE:
                extracted = tar.extractfile(member)
                if extracted is not None:
                    return extracted.read()
    raise BundleError("opa build -t wasm wrote no policy.wasm")
