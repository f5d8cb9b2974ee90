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

from aiohttp import web

from kernel.logs import configure_logging
from registry.api.app import create_app
from registry.api.context import ApiSettings
from registry.catalog.seed import seed_directory
from registry.config import RegistryConfig
from registry.control_plane.stock import install_stock_policies
from registry.runtime import open_service
from registry.webhooks.deliverer import WebhookDeliverer


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


async def serve(
    config: RegistryConfig, workers: int = 1, seed: Path | None = None, is_worker: bool = False
) -> int:
    configure_logging()
    shared_port = workers > 1 or is_worker
    async with AsyncExitStack() as stack:
        service = await open_service(config, stack)
        stack.push_async_callback(service.close)
        await service.start(preload=config.preload_agents)
        installed = await install_stock_policies(service.store)  # before the first bundle
        service.relay.start()
        stack.push_async_callback(service.relay.stop)
        settings = ApiSettings(config.data_dir / "spool", config.max_artifact_bytes)
        runner = web.AppRunner(create_app(service, settings), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, config.host, config.port, reuse_port=shared_port or None)
        await site.start()
        if not is_worker:
            children = _spawn_workers(config, workers - 1)
            stack.callback(_stop_workers, children)
            deliverer = WebhookDeliverer(service.store)  # one per registry: the first process
            deliverer.start()
            stack.push_async_callback(deliverer.stop)
            print(
                f"registry listening on http://{config.host}:{config.port}"
                f" ({workers} worker{'s' if workers > 1 else ''})",
                flush=True,
            )
            if installed is not None:
                print(f"stock policies installed: {len(installed)}", flush=True)
            if seed:
                counts = await seed_directory(service, seed)
                print(f"seeded from {seed}: {counts}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    return 0
