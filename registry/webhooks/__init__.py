"""Webhooks: subscriptions per agent or team, and signed, retried deliveries of lifecycle events."""
