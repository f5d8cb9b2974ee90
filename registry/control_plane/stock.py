"""The stock policies (bundles/policies/) are active in every registry from its first start, so
lifecycle state (DRAFT, RETIRED, expired certificates) is enforced by default. Installed once
per database: whatever an operator changes afterwards (disabling a stock policy) stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bundles.layout import STOCK_POLICY_DIR
from registry.auth.models import Role
from registry.auth.principal import Context, Principal
from registry.control_plane.bundle import validate_policy
from registry.control_plane.policies import PolicyStore
from registry.store.port import MetadataStore

STEP = "stock-policies"
REGISTRY = Context(Principal("registry", "registry", Role.ADMIN, None), request_id="startup")


def read_policies(directory: Path) -> list[tuple[str, str]]:
    """(file name, YAML) of every policy file of `directory`, in name order."""
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.yaml"))]


async def install_stock_policies(
    store: MetadataStore, directory: Path = STOCK_POLICY_DIR
) -> list[str] | None:
    """The policy ids created, or None when this database had its stock policies already."""
    documents = await asyncio.to_thread(read_policies, directory)
    return await PolicyStore(store, validate_policy).install_once(REGISTRY, STEP, documents)
