"""What the controller starts every sidecar with, from the registry it runs in: where the
registry is, a `service` token, and how callers are authenticated.

The token and the JWT secret are files under the controller's home (``<data dir>/controller``,
mode 0600) so that they are the same after a restart: adapters fingerprint everything a sidecar
is started with, and a new token would replace every running instance instead of adopting it.
The database keeps only the token's hash, as for any token; a revoked token is replaced.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import structlog

from registry.auth.models import Role
from registry.auth.tokens import create_token, hash_token
from registry.deployments.sidecar_engine import Engines
from registry.store.port import MetadataStore

log = structlog.get_logger("registry.deployments")

TOKEN_NAME = "deployment-controller"
UNSPECIFIED_HOSTS = {"", "0.0.0.0", "::"}


@dataclass(frozen=True)
class SidecarSettings:
    registry_url: str | None
    token: str | None
    jwt_secret_file: str | None
    jwks_url: str | None
    engines: Engines = ()  # GREENLANG_SIDECAR_ENGINE: OPA per environment, else embedded
    verification_key_file: str | None = None  # public PEM the registry signs bundles with


def registry_url(host: str, port: int, advertised: str | None = None) -> str:
    """Where sidecars reach the registry: the advertised URL, else its listen address (a
    wildcard listen address is reached on loopback)."""
    if advertised:
        return advertised.rstrip("/")
    host = "127.0.0.1" if host in UNSPECIFIED_HOSTS else host
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name
    return f"http://{host}:{port}"


async def service_token(store: MetadataStore, home: Path) -> str:
    """The controller's own `service` token: the one kept in ``home`` while it is live, else
    a new one (its secret written there, its hash stored)."""
    path = home / "service.token"
    if path.is_file():
        kept = path.read_text().strip()
        principal = await store.tokens.by_hash(hash_token(kept)) if kept else None
        if principal is not None and principal.role is Role.SERVICE:
            return kept
    principal, secret = await create_token(store, Role.SERVICE, None, TOKEN_NAME)
    _write_private(path, secret + "\n")
    log.info("deployment controller token created", token_id=principal.token_id)
    return secret


def jwt_secret_file(configured: str | None, jwks_url: str | None, home: Path) -> str | None:
    """The HS256 secret file sidecars verify callers with. Configured (GREENLANG_JWT_SECRET_FILE)
    or JWKS: passed on as is. Neither: one generated under ``home`` (sidecars refuse to start
    without caller authentication), kept across restarts; whoever issues caller JWTs signs with
    it."""
    if configured and not Path(configured).is_file():
        raise ValueError(f"GREENLANG_JWT_SECRET_FILE {configured}: no such file")
    if configured or jwks_url:
        return configured
    path = home / "jwt.secret"
    if not path.is_file():
        _write_private(path, secrets.token_hex(32) + "\n")
        log.info("generated the caller JWT secret (HS256) for deployed sidecars", path=str(path))
    return str(path)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
