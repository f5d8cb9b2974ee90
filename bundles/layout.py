"""Where the policy toolchain's files live in the repository."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent

# Hand-written entrypoint, helpers and policies: inside the package so that an installed
# (non-editable) package has them; `rego` at the repository root is a symlink to it.
REGO_DIR = PACKAGE_DIR / "rego"
HANDWRITTEN_POLICY_DIR = REGO_DIR / "greenlang" / "policies"
POLICY_TESTS_DIR = REPO_ROOT / "policy-tests"
STOCK_POLICY_DIR = PACKAGE_DIR / "policies"  # stock YAML policies
STOCK_DATA_DIR = PACKAGE_DIR / "data"  # default roles, limits, clearances, retention

# Inside a compiled output directory (and later a bundle): one module per policy and the
# policy metadata, laid out so OPA's directory loader puts them at data.greenlang.*.
COMPILED_POLICY_DIR = Path("greenlang") / "policies"
POLICY_META_FILE = Path("greenlang") / "policy_meta" / "data.json"
POLICY_INDEX_FILE = Path("greenlang") / "policy_index" / "data.json"
COMPILED_MARKER = ".greenlang-compiled"

DECISION_ENTRYPOINT = "greenlang/decision"
VERDICT_ENTRYPOINT = "greenlang/verdict"  # the decision without its obligations
# Where the rate verdict may change with rate.current (rego/greenlang/rate_bands.rego)
RATE_BANDS_ENTRYPOINT = "greenlang/rate_bands"
ENTRYPOINTS = (DECISION_ENTRYPOINT, VERDICT_ENTRYPOINT, RATE_BANDS_ENTRYPOINT)
