"""The lifecycle manager: every lifecycle operation of the registry in one object (deployments
from service.py, canary releases from registry/canary/service.py, deprecation and retirement
from retirement.py)."""

from __future__ import annotations

from registry.canary.service import CanaryService
from registry.lifecycle.retirement import RetirementService


class LifecycleManager(CanaryService, RetirementService):
    pass
