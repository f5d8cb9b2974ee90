"""`opa test` for policy authors: compile a policy directory, then run the real OPA on it.

The command is exactly `opa test rego/ policy-tests/ <compiled dir> bundles/data/`, so what
passes here passes for anyone running it by hand. `greenlang-governance policy test [DIR]` is a
thin wrapper around `run_opa_test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bundles.compiler import compile_to_dir
from bundles.layout import POLICY_TESTS_DIR, REGO_DIR, STOCK_DATA_DIR, STOCK_POLICY_DIR


@dataclass(frozen=True)
class OpaTestResult:
    """What `opa test` said; `passed` when it exited 0."""

    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0


OPA_VERSION = "v1.22.2"  # the version CI pins (.ci/install.sh)


def find_opa() -> str:
    """The OPA binary: $GREENLANG_OPA_BIN, the Go-built cache (~/.cache/greenlang/bin), PATH."""
    cache = Path(os.environ.get("GREENLANG_CACHE", Path.home() / ".cache" / "greenlang"))
    for candidate in (
        os.environ.get("GREENLANG_OPA_BIN"),
        str(cache / "bin" / "opa"),
        shutil.which("opa"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        "opa not found: put OPA 1.x on PATH or set GREENLANG_OPA_BIN=/path/to/opa; with Go, build"
        f" it: GOBIN={cache / 'bin'} go install github.com/open-policy-agent/opa@{OPA_VERSION}"
    )


def opa_test_command(
    out_dir: Path | str,
    *,
    opa: str | None = None,
    extra_args: Sequence[str] = (),
    tests_dir: Path | str = POLICY_TESTS_DIR,
) -> list[str]:
    """`opa test rego/ policy-tests/ <out_dir> bundles/data/` (absolute paths)."""
    return [
        opa or find_opa(),
        "test",
        *extra_args,
        str(REGO_DIR),
        str(tests_dir),
        str(Path(out_dir)),
        str(STOCK_DATA_DIR),
    ]


def run_opa_test(
    policy_dir: Path | str = STOCK_POLICY_DIR,
    out_dir: Path | str = Path("build") / "policies",
    *,
    opa: str | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 300.0,
    tests_dir: Path | str = POLICY_TESTS_DIR,
) -> OpaTestResult:
    """Compile `policy_dir` into `out_dir` (PolicyError on invalid policies, nothing written),
    then run `opa test` over the hand-written Rego, the policy tests, the output and the
    default data."""
    compile_to_dir([policy_dir], out_dir)
    command = opa_test_command(out_dir, opa=opa, extra_args=extra_args, tests_dir=tests_dir)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    return OpaTestResult(tuple(command), done.returncode, done.stdout, done.stderr)
