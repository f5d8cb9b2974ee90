"""The ``greenlang-sidecar`` command line for one instance of a deployment.

Every adapter starts the same sidecar in front of the agent; only the addresses and the place of
the caller-authentication secret differ (a local path, a path inside a container)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from registry.deployments.deployer import DeploymentSpec


def _same(url: str) -> str:
    return url


def sidecar_argv(
    spec: DeploymentSpec,
    *,
    upstream: str,
    listen: str,
    admin_listen: str,
    program: Sequence[str] = ("greenlang-sidecar",),
    url: Callable[[str], str] = _same,
    bundle: str | None = None,
    jwt_secret_file: str | None = None,
    verification_key: str | None = None,
    spool_dir: str | None = None,
    sidecar_id: str | None = None,
) -> list[str]:
    """Flags from ``spec.sidecar``. Where an adapter runs the sidecar elsewhere than the
    registry's host it says how: ``url`` rewrites the addresses the sidecar calls (e.g. loopback
    to the Docker bridge), ``bundle``, ``jwt_secret_file`` and ``verification_key`` are where
    those files are found (a path inside a container, a mounted Secret)."""
    cfg = spec.sidecar
    argv = [
        *program,
        "--agent-id", spec.agent_id,
        "--agent-version", spec.version,
        "--upstream", upstream,
        "--listen", listen,
        "--admin-listen", admin_listen,
        "--environment", spec.environment,
        *(["--registry", url(cfg.registry_url)] if cfg.registry_url else []),
        "--engine", url(cfg.engine),
    ]  # fmt: skip
    if cfg.bundle_url and cfg.engine == "embedded":
        argv += ["--bundle", bundle or cfg.bundle_url]
    if cfg.bundle_key_file:
        argv += ["--verification-key", verification_key or cfg.bundle_key_file]
    if cfg.jwks_url:
        argv += ["--jwks-url", url(cfg.jwks_url)]
    elif cfg.jwt_secret_file:
        argv += ["--jwt-secret-file", jwt_secret_file or cfg.jwt_secret_file]
    if spool_dir:
        argv += ["--spool-dir", spool_dir]
    if sidecar_id:
        argv += ["--sidecar-id", sidecar_id]
    return [*argv, *cfg.extra_args]
