"""Lifecycle: promote, approve, deprecate, retire, roll back; deployments as desired state."""
