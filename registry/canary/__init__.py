"""Canary releases: a new version next to the serving one, judged interval by interval.

`analysis.py` is the pure judgement (settings, state and one interval's metrics in, a verdict
out); the controller, the API and the sidecar's split build on it."""
