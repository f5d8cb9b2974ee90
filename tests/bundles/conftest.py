"""Shared inputs for the bundle tests: a tiny hand-written policy, data, and signing keys."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bundles.bundle import BundleSource, DataDocument, RegoDir, pack_files, read_bundle_files

DECISION_REGO = """\
package greenlang.decision

default allow := false

allow if data.greenlang.flags.on

reason := data.greenlang.flags.reason

team_of(agent) := data.greenlang.catalog.agents[agent].owner_team
"""

HELPERS_REGO = """\
package greenlang.lib.names

shout(s) := concat("", [upper(s), "!"])
"""

DECISION_TEST_REGO = """\
package greenlang.decision_test

test_nothing if true
"""

ROOTS = ["greenlang"]

# Data that exercises the canonical JSON hashing OPA applies to signed data files: unicode,
# escapes, U+2028, control characters, big integers, floats, empty containers, key order.
TRICKY = {
    "zeta": 'a\u2028b\u2029c\x01\x1f\x7f\b\f\n\t"\\<>&é漢🌍',
    "alpha": [1.5, 1e20, 12345678901234567890, -0.0, 0.1, 0, -7],
    "empty_obj": {},
    "empty_list": [],
    "nested": {"b": None, "a": [True, False, {"é": "ü", "e": 1}]},
}


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path
    other_public: Path


def _write_rsa_pair(directory: Path, stem: str) -> tuple[Path, Path]:
    priv, pub = directory / f"{stem}.pem", directory / f"{stem}.pub.pem"
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:  # pragma: no cover - fall back to the openssl CLI
        subprocess.run(["openssl", "genrsa", "-out", str(priv), "2048"], check=True, timeout=60)
        subprocess.run(
            ["openssl", "rsa", "-in", str(priv), "-pubout", "-out", str(pub)],
            check=True,
            timeout=60,
        )
        return priv, pub
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


@pytest.fixture(scope="session")
def rsa_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = _write_rsa_pair(d, "signing")
    _, other_pub = _write_rsa_pair(d, "other")
    return Keys(private=priv, public=pub, other_public=other_pub)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "policy"
    (d / "lib").mkdir(parents=True)
    (d / "decision.rego").write_text(DECISION_REGO)
    (d / "lib" / "names.rego").write_text(HELPERS_REGO)
    (d / "decision_test.rego").write_text(DECISION_TEST_REGO)
    (d / ".hidden.rego").write_text("this is not rego and must be skipped\n")
    (d / "README.md").write_text("not rego\n")
    return d


def sources(
    policy_dir: Path, *, on: bool = True, reason: str = "flag on", extra: Any = None
) -> list[BundleSource]:
    flags: dict[str, Any] = {"on": on, "reason": reason}
    if extra is not None:
        flags["extra"] = extra
    return [
        RegoDir(policy_dir, prefix="greenlang"),
        DataDocument("greenlang/flags", flags),
        DataDocument(
            "greenlang/catalog",
            {"agents": {"carbon-calc": {"owner_team": "climate", "status": "ACTIVE"}}},
        ),
    ]


def repack(src: Path, dst: Path, changes: dict[str, bytes | None]) -> Path:
    """Copy a bundle archive, replacing or adding (bytes) or dropping (None) files by name."""
    files = read_bundle_files(src)
    for name, content in changes.items():
        if content is None:
            files.pop(name, None)
        else:
            files[name] = content
    dst.write_bytes(pack_files(files))
    return dst
