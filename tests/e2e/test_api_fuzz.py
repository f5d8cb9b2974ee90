"""The registry's OpenAPI document fuzzed with schemathesis, as each role: no server error, every
answer's status, content type and body as documented (issue 14, "Fuzzing and hostile input").

The registry runs as users run it (`serve` with the example agents seeded), so operations meet
real data; schemathesis runs as a subprocess (its CLI) with a fixed seed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, RegistryProcess

CHECKS = ",".join(
    (
        "not_a_server_error",
        "response_schema_conformance",
        "status_code_conformance",
        "content_type_conformance",
    )
)
ROLES = {"admin": None, "publisher": "cbam-team", "approver": None, "viewer": None, "service": None}


class SeededRegistry(RegistryProcess):
    def command(self) -> list[str]:
        return [*super().command(), "--seed", str(ROOT / "examples" / "agents")]


@pytest.fixture
def registry(database_url: str, tmp_path: Path) -> Iterator[SeededRegistry]:
    with SeededRegistry(tmp_path / "registry", database_url) as registry:
        deadline = time.monotonic() + 120
        while "seeded from" not in registry.log():
            assert time.monotonic() < deadline, "the examples were not seeded"
            time.sleep(0.5)
        yield registry


@pytest.mark.parametrize("role", ROLES)
def test_the_api_holds_to_its_document(registry: SeededRegistry, role: str, tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st, "schemathesis is a test dependency (pip install -e .[test])"
    token = registry.token(role, ROLES[role], name=f"fuzz-{role}")
    done = subprocess.run(
        [
            st,
            "run",
            f"http://127.0.0.1:{registry.port}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            "10",
            "--generation-deterministic",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    summary = done.stdout[done.stdout.find("=== FAILURES") :] or done.stdout[-3000:]
    assert done.returncode == 0, summary[-6000:] + done.stderr[-2000:]
    assert "generated" in done.stdout  # it ran cases, not just loaded the document
    cases = [line.strip() for line in done.stdout.splitlines() if " generated" in line]
    print(f"schemathesis as {role}: {cases[-1]}")  # shown with pytest -rP: the note's figures
