"""The wheel carries every file the code reads at run time, not only the Python modules: an
installed (non-editable) package must build bundles and migrate databases like a checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from bundles.layout import PACKAGE_DIR, REGO_DIR, STOCK_DATA_DIR, STOCK_POLICY_DIR

REPO_ROOT = PACKAGE_DIR.parent
CACHES = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis")
TOP_LEVEL_LEFT_OUT = (".git", "build", "dist", ".greenlang", "data")  # /data: a local data dir


def left_out(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == REPO_ROOT
    return {
        n
        for n in names
        if n in CACHES or n.endswith(".egg-info") or (top and n in TOP_LEVEL_LEFT_OUT)
    }


def test_wheel_has_rego_policies_data_and_migrations(tmp_path: Path) -> None:
    # Built from a copy: setuptools reuses a source tree's build/ and would keep stale files.
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, symlinks=True, ignore=left_out)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    needed = [
        *REGO_DIR.rglob("*.rego"),
        *STOCK_POLICY_DIR.glob("*.yaml"),
        *STOCK_DATA_DIR.rglob("*.json"),
        *(REPO_ROOT / "registry" / "store" / "migrations").glob("*.sql"),
    ]
    assert len(needed) > 30
    missing = sorted(
        str(p.relative_to(REPO_ROOT)) for p in needed if str(p.relative_to(REPO_ROOT)) not in names
    )
    assert not missing, missing


def test_root_rego_is_the_packaged_rego() -> None:
    """`rego/` (what `opa test rego/ ...` and the docs name) is the package's directory."""
    assert (REPO_ROOT / "rego").resolve() == REGO_DIR.resolve()


def test_the_opa_version_users_are_told_to_build_is_the_one_ci_pins() -> None:
    from bundles.testing import OPA_VERSION

    install = (Path(__file__).resolve().parents[1] / ".ci" / "install.sh").read_text()
    assert f"OPA_VERSION={OPA_VERSION}\n" in install
