"""Deployments: desired state in the registry, reconciled by a controller through a Deployer."""
