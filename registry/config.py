"""Registry settings: CLI flags > GREENLANG_* environment > embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from registry.deployments.sidecar_engine import ENGINE_ENV, Engines, parse_engines
from registry.webhooks.destinations import ALLOW_ENV, Network, parse_networks

DEFAULT_DATA_DIR = Path.home() / ".greenlang" / "registry"
DEFAULT_MAX_ARTIFACT_BYTES = 100 * 1024 * 1024
DEFAULT_PRELOAD_AGENTS = 20_000  # about 4.4 KB each in memory (an entry with two versions)
DEPLOYERS = ("process", "docker", "kubernetes")  # "none": serve runs no deployment controller


@dataclass(frozen=True)
class RegistryConfig:
    data_dir: Path
    database_url: str | None  # None: embedded PostgreSQL in data_dir
    artifact_url: str  # file:///... or s3://bucket?endpoint=...
    search_url: str  # "postgres" or a Meilisearch URL
    meili_key: str | None
    max_artifact_bytes: int
    read_cache_ttl: float = 2.0  # seconds reads (get, search) may be served from memory; 0 = off
    preload_agents: int = DEFAULT_PRELOAD_AGENTS  # entries the server loads into memory at start
    host: str = "127.0.0.1"
    port: int = 8700
    deployer: str = "process"  # the controller's default deployer, or "none" (no controller)
    advertise_url: str | None = None  # where deployed sidecars reach the registry
    jwt_secret_file: str | None = None  # caller authentication passed on to deployed sidecars
    jwks_url: str | None = None
    webhook_networks: tuple[Network, ...] = ()  # private networks webhooks may still reach
    sidecar_engines: Engines = ()  # OPA per environment for deployed sidecars (else embedded)
    # the PEM the registry signs bundles with; None: <data_dir>/bundle-signing.pem, made once
    bundle_signing_key: str | None = None

    @classmethod
    def load(
        cls,
        data_dir: str | Path | None = None,
        host: str | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
        deployer: str | None = None,
    ) -> RegistryConfig:
        env = dict(os.environ) if env is None else env
        root = Path(data_dir or env.get("GREENLANG_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()
        root = root.resolve()
        max_bytes = env.get("GREENLANG_MAX_ARTIFACT_BYTES")
        if max_bytes is not None and not max_bytes.isdigit():
            raise ValueError("GREENLANG_MAX_ARTIFACT_BYTES must be a whole number of bytes")
        ttl = env.get("GREENLANG_READ_CACHE_TTL", "2")
        try:
            read_cache_ttl = float(ttl)
        except ValueError:
            read_cache_ttl = -1.0
        if not 0 <= read_cache_ttl <= 3600:
            raise ValueError("GREENLANG_READ_CACHE_TTL must be a number of seconds (0 to 3600)")
        preload = env.get("GREENLANG_PRELOAD_AGENTS", str(DEFAULT_PRELOAD_AGENTS))
        if not preload.isascii() or not preload.isdigit():
            raise ValueError("GREENLANG_PRELOAD_AGENTS must be a whole number of agents")
        deployer = deployer or env.get("GREENLANG_DEPLOYER") or "process"
        if deployer not in (*DEPLOYERS, "none"):
            raise ValueError(f"deployer {deployer!r}: choose {', '.join(DEPLOYERS)} or none")
        advertise = env.get("GREENLANG_ADVERTISE_URL") or None
        if advertise and not advertise.startswith(("http://", "https://")):
            raise ValueError("GREENLANG_ADVERTISE_URL must be an http(s) URL")
        return cls(
            data_dir=root,
            database_url=env.get("GREENLANG_DATABASE_URL") or None,
            artifact_url=env.get("GREENLANG_ARTIFACT_URL") or (root / "artifacts").as_uri(),
            search_url=env.get("GREENLANG_SEARCH_URL") or "postgres",
            meili_key=env.get("GREENLANG_MEILI_KEY") or None,
            max_artifact_bytes=int(max_bytes) if max_bytes else DEFAULT_MAX_ARTIFACT_BYTES,
            read_cache_ttl=read_cache_ttl,
            preload_agents=int(preload),
            host=host or env.get("GREENLANG_HOST") or "127.0.0.1",
            port=port or int(env.get("GREENLANG_PORT") or 8700),
            deployer=deployer,
            advertise_url=advertise,
            jwt_secret_file=_absolute(env.get("GREENLANG_JWT_SECRET_FILE")),
            jwks_url=env.get("GREENLANG_JWKS_URL") or None,
            webhook_networks=parse_networks(env.get(ALLOW_ENV, "")),
            sidecar_engines=parse_engines(env.get(ENGINE_ENV, "")),
            bundle_signing_key=_absolute(env.get("GREENLANG_BUNDLE_SIGNING_KEY")),
        )


def _absolute(path: str | None) -> str | None:
    """Sidecars run in directories of their own: pass files on by absolute path."""
    return str(Path(path).expanduser().resolve()) if path else None
