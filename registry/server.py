"""`greenlang-registry serve`: one or more worker processes sharing a port (SO_REUSEPORT), one
database and one artifact store. The first process seeds, supervises the others and runs the
webhook deliverer."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import structlog
from aiohttp import web

from kernel.cli import CliError
from kernel.http_server import ProblemAppRunner
from kernel.logs import configure_logging
from registry.api.app import METRICS, create_app
from registry.api.context import ApiSettings
from registry.catalog.seed import seed_directory
from registry.catalog.service import RegistryService
from registry.config import RegistryConfig
from registry.control_plane.signing_key import BundleKey, load_bundle_key
from registry.control_plane.stock import install_stock_policies
from registry.deployments.controller import DeploymentController
from registry.deployments.deployer_set import DeployerUnavailable
from registry.duties import BackgroundDuties
from registry.leadership import Leadership
from registry.runtime import open_service
from registry.store.availability import connect
from registry.webhooks.destinations import Destinations

log = structlog.get_logger("registry.server")

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _spawn_workers(config: RegistryConfig, count: int) -> list[subprocess.Popen[bytes]]:
    """Extra workers: the same command, told to share the port and not to seed."""
    argv = [
        sys.executable,
        "-m",
        "registry.cli.main",
        "serve",
        "--worker",
        "--host",
        config.host,
        "--port",
        str(config.port),
        "--data-dir",
        str(config.data_dir),
    ]
    return [subprocess.Popen(argv, env=os.environ.copy()) for _ in range(count)]


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        try:
            w.wait(10)
        except subprocess.TimeoutExpired:
            w.kill()


async def _controller(
    config: RegistryConfig, service: RegistryService, bundle_key: BundleKey
) -> DeploymentController | None:
    """The deployment controller (first process only), built before the API listens so that
    a bad setting fails serve at once."""
    if config.deployer == "none":
        log.info("deployment controller: off (--deployer none)")
        return None
    from registry.deployments.wiring import build_controller

    try:
        controller = await build_controller(
            config, service.store, service.artifacts, bundle_key=bundle_key
        )
        controller.deployers.get(config.deployer)
    except (DeployerUnavailable, ValueError) as exc:
        raise CliError(f"deployment controller: {exc}", 2) from None
    settings = controller.specs.sidecar
    auth = settings.jwks_url or f"HS256 secret {settings.jwt_secret_file}"
    log.info(
        f"deployment controller: default deployer {config.deployer}; sidecars reach the"
        f" registry at {settings.registry_url} and authenticate callers with {auth}"
    )
    if config.deployer == "docker" and not config.advertise_url and config.host in LOOPBACK:
        log.warning(
            "note: containers reach the registry through the Docker bridge, not on its"
            " loopback: serve with --host 0.0.0.0 (or set GREENLANG_ADVERTISE_URL)"
        )
    return controller


def _bundle_key(config: RegistryConfig) -> BundleKey:
    """The key every served bundle is signed with (made in the data dir on first start)."""
    try:
        key = load_bundle_key(config.bundle_signing_key, config.data_dir)
    except (OSError, ValueError) as exc:
        raise CliError(f"bundle signing key: {exc}", 2) from None
    log.info(f"bundles are signed (RS256) with {key.path}")
    return key


async def serve(
    config: RegistryConfig, workers: int = 1, seed: Path | None = None, is_worker: bool = False
) -> int:
    configure_logging(component="registry")
    shared_port = workers > 1 or is_worker
    async with AsyncExitStack() as stack:
        service, db = await open_service(config, stack)
        stack.push_async_callback(service.close)
        await service.start(preload=config.preload_agents)
        installed = await install_stock_policies(service.store)  # before the first bundle
        bundle_key = _bundle_key(config)
        controller = None if is_worker else await _controller(config, service, bundle_key)
        if controller is not None:  # at shutdown: close deployers; instances stay
            stack.push_async_callback(controller.deployers.close)
        settings = ApiSettings(
            config.data_dir / "spool",
            config.max_artifact_bytes,
            default_deployer="process" if config.deployer == "none" else config.deployer,
            webhooks=Destinations(config.webhook_networks),
            bundle_key=bundle_key,
        )
        app = create_app(service, settings)
        runner = ProblemAppRunner(app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, config.host, config.port, reuse_port=shared_port or None)
        try:
            await site.start()
        except OSError as exc:  # the port is taken, or the address is not this machine's
            raise CliError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror}", 1
            ) from None
        if not is_worker:
            children = _spawn_workers(config, workers - 1)
            stack.callback(_stop_workers, children)
            duties = BackgroundDuties(service, app, controller)
            leadership = Leadership(
                lambda: connect(db.url), duties.start, duties.stop, metrics=app[METRICS]
            )
            leadership.start()  # the duties run while this process leads (several may serve)
            stack.push_async_callback(leadership.stop)
            log.info(
                f"registry listening on http://{config.host}:{config.port}"
                f" ({workers} worker{'s' if workers > 1 else ''})",
                url=f"http://{config.host}:{config.port}",
                workers=workers,
            )
            if installed is not None:
                log.info(f"stock policies installed: {len(installed)}")
            if seed:
                counts = await seed_directory(service, seed)
                log.info(f"seeded from {seed}: {counts}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    return 0
