"""The ``greenlang-sidecar`` command line for one instance of a deployment.

Every adapter starts the same sidecar in front of the agent; only the addresses and the place of
the caller-authentication secret differ (a local path, a path inside a container)."""

from __future__ import annotations

from registry.deployments.deployer import DeploymentSpec


def sidecar_argv(
    spec: DeploymentSpec,
    *,
    upstream: str,
    listen: str,
    admin_listen: str,
    jwt_secret_file: str | None = None,
    spool_dir: str | None = None,
) -> list[str]:
    """Flags from ``spec.sidecar``; ``jwt_secret_file`` overrides where the HS256 secret is read
    (e.g. a mounted Secret instead of the registry host's path)."""
    cfg = spec.sidecar
    argv = [
        "greenlang-sidecar",
        "--agent-id", spec.agent_id,
        "--agent-version", spec.version,
        "--upstream", upstream,
        "--listen", listen,
        "--admin-listen", admin_listen,
        "--environment", cfg.environment,
        *(["--registry", cfg.registry_url] if cfg.registry_url else []),
        "--engine", cfg.engine,
    ]  # fmt: skip
    if cfg.bundle_url and cfg.engine == "embedded":
        argv += ["--bundle", cfg.bundle_url]
    if cfg.jwks_url:
        argv += ["--jwks-url", cfg.jwks_url]
    elif cfg.jwt_secret_file:
        argv += ["--jwt-secret-file", jwt_secret_file or cfg.jwt_secret_file]
    if spool_dir:
        argv += ["--spool-dir", spool_dir]
    return [*argv, *cfg.extra_args]
