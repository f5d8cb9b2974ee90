"""Policy what-if replay: recorded decision inputs re-decided under a draft policy
(docs/reports.md, "Policy replay")."""
