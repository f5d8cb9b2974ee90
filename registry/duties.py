"""The registry's once-per-registry background loops, run by the leading process
(registry/leadership.py): deployment controller and canary analysis, webhook delivery, the
sunset sweeper and the outbox relay's catch-up pass."""

from __future__ import annotations

from aiohttp import web

from registry.api.app import METRICS
from registry.api.context import SETTINGS
from registry.api.lifecycle import LIFECYCLE
from registry.canary.runner import CanaryMetrics, CanaryRunner
from registry.catalog.service import RegistryService
from registry.deployments.controller import DeploymentController
from registry.lifecycle.sweeper import SunsetSweeper
from registry.webhooks.deliverer import WebhookDeliverer


class BackgroundDuties:
    def __init__(
        self,
        service: RegistryService,
        app: web.Application,
        controller: DeploymentController | None,
    ) -> None:
        self.service, self.app, self.controller = service, app, controller
        self.sweeper = SunsetSweeper(app[LIFECYCLE])
        self.canary_metrics = CanaryMetrics(app[METRICS]) if controller is not None else None
        self._deliverer: WebhookDeliverer | None = None
        self._canaries: CanaryRunner | None = None

    async def start(self) -> None:
        self.service.relay.start()
        self._deliverer = WebhookDeliverer(
            self.service.store, destinations=self.app[SETTINGS].webhooks
        )
        self._deliverer.start()
        self.sweeper.start()
        if self.controller is not None:
            self.controller.start()
            self._canaries = CanaryRunner(  # judges canaries; needs the controller
                self.app[LIFECYCLE], metrics=self.canary_metrics, wake=self.controller.wake
            )
            self._canaries.start()

    async def stop(self) -> None:
        """Stop every loop; the controller pauses (its deployers stay open for a comeback)."""
        if self._canaries is not None:
            await self._canaries.stop()
            self._canaries = None
        if self.controller is not None:
            await self.controller.pause()
        await self.sweeper.stop()
        if self._deliverer is not None:
            await self._deliverer.stop()
            self._deliverer = None
        await self.service.relay.stop()
