"""The lifecycle manager: every lifecycle operation of the registry in one object (deployments
from service.py, deprecation and retirement from retirement.py)."""

from __future__ import annotations

from registry.lifecycle.retirement import RetirementService
from registry.lifecycle.service import DeploymentService


class LifecycleManager(DeploymentService, RetirementService):
    pass
