"""One RSA key pair for tests that start production sidecars on bundle files they build
themselves: sign with ``SIGNING``, start the sidecar with ``--verification-key public_key(dir)``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bundles.signing import SigningConfig


@cache
def _pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def signing() -> SigningConfig:
    return SigningConfig(key=_pair()[0], algorithm="RS256")


def public_key(directory: Path) -> Path:
    """The public key as a file in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bundle-verification.pem"
    path.write_bytes(_pair()[1])
    return path
