"""Fixtures of the deployer adapters' own tests."""

from tests.support.kube import kube_cluster

__all__ = ["kube_cluster"]
