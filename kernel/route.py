"""The route of an agent's calls: which versions serve them and in what shares. The registry
serves it (GET /api/v1/agents/{agent_id}/route) and every sidecar of the agent polls it
(sidecar/routing.py), so the shape is defined once, here, for both sides."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RouteBackend(BaseModel):
    version: str
    deployment_id: str
    endpoints: list[str] = Field(description="Ready sidecars of the deployment")


class CanaryBackend(RouteBackend):
    weight: int = Field(ge=0, le=100, description="Percent of calls it receives")


class Route(BaseModel):
    """GET /api/v1/agents/{agent_id}/route: what a sidecar of the agent does with a call
    (sidecar/routing.py). A sidecar of the stable version sends `canary.weight` percent to the
    canary's endpoints; a sidecar of the canary serves what it gets; any other sidecar of the
    agent (one draining after a promotion or rollback) forwards everything to the stable one."""

    agent_id: str
    environment: str
    stable: RouteBackend | None = Field(description="The newest running stable deployment")
    canary: CanaryBackend | None = Field(description="Present while a canary receives calls")
