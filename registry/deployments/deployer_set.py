"""The deployers a controller may use, by name: the default one built at start, the others when
a deployment first names them (and again on a later tick if building failed, e.g. Docker was
not reachable or KUBECONFIG not set)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from registry.deployments.deployer import Deployer

Factory = Callable[[], Deployer]


class DeployerUnavailable(Exception):
    """A deployment names a deployer this registry cannot use; the message says why."""


class DeployerSet:
    def __init__(self, factories: Mapping[str, Factory], default: str) -> None:
        if default not in factories:
            raise ValueError(f"unknown default deployer {default!r}")
        self._factories = dict(factories)
        self.default = default
        self._built: dict[str, Deployer] = {}

    def get(self, name: str) -> Deployer:
        found = self._built.get(name)
        if found is not None:
            return found
        factory = self._factories.get(name)
        if factory is None:
            known = ", ".join(sorted(self._factories))
            raise DeployerUnavailable(f"unknown deployer {name!r} (this registry has {known})")
        try:
            deployer = factory()
        except Exception as exc:  # any adapter's client error: the deployment says why
            raise DeployerUnavailable(f"the {name} deployer is not available: {exc}") from None
        self._built[name] = deployer
        return deployer

    def knows(self, name: str) -> bool:
        return name in self._factories

    def built(self) -> list[tuple[str, Deployer]]:
        return list(self._built.items())

    async def close(self) -> None:
        """Release clients; the instances keep running."""
        built, self._built = self._built, {}
        for deployer in built.values():
            await deployer.close()
