"""Compliance reports (docs/reports.md): the report model, its computation from rolled-up
decision counts, and its renderings (JSON, HTML, Kubernetes PolicyReport)."""
