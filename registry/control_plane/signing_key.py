"""The key the registry signs every bundle it serves with (OPA's ``.signatures.json``, RS256).

Secure by default: with no key configured the registry makes one on first start, an RSA 2048
PEM at ``<data dir>/bundle-signing.pem`` (mode 0600), and reuses it on every start after, so
sidecars and OPAs keep verifying across restarts. ``GREENLANG_BUNDLE_SIGNING_KEY`` names a PEM
of your own instead (share it between registries that serve the same fleet). The public half
is what deployed sidecars (``--verification-key``) and OPAs (``keys``) verify with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bundles.signing import SigningConfig

log = structlog.get_logger("registry.bundle_key")

KEY_FILE = "bundle-signing.pem"
PUBLIC_FILE = "bundle-verification.pem"
ALGORITHM = "RS256"
KEY_ID = "greenlang"  # the JWT kid; the name OPA's `keys` config gives the public key


@dataclass(frozen=True)
class BundleKey:
    """The registry's bundle signing key: its private PEM (kept in memory) and public PEM."""

    path: Path
    private_pem: bytes
    public_pem: bytes

    def signing(self) -> SigningConfig:
        return SigningConfig(key=self.private_pem, algorithm=ALGORITHM, keyid=KEY_ID)

    def write_public(self, directory: Path) -> Path:
        """The public key as a file (``directory/bundle-verification.pem``) for deployers."""
        path = directory / PUBLIC_FILE
        if not path.is_file() or path.read_bytes() != self.public_pem:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(self.public_pem)
            tmp.chmod(0o644)
            os.replace(tmp, path)
        return path


def load_bundle_key(configured: str | None, data_dir: Path) -> BundleKey:
    """The configured key, else the data dir's (made on first use). ValueError when the
    configured file is missing or not an RSA private key in PEM."""
    if configured:
        path = Path(configured).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"GREENLANG_BUNDLE_SIGNING_KEY {path}: no such file")
    else:
        path = data_dir / KEY_FILE
        if not path.is_file():
            _create(path)
    return _read(path)


def _read(path: Path) -> BundleKey:
    pem = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"bundle signing key {path}: not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"bundle signing key {path}: must be an RSA key ({ALGORITHM})")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return BundleKey(path=path, private_pem=pem, public_pem=public)


def _create(path: Path) -> None:
    """Write a new key without ever replacing one: a concurrent first start (several workers,
    two registries on one data dir) keeps whichever key was linked in first."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    try:
        os.link(tmp, path)
        log.info("generated the bundle signing key (RS256)", path=str(path))
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
