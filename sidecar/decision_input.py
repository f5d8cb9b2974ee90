"""The decision input an audit event keeps (its ``input`` key), for policy replay.

A call's verdict is a function of its decision inputs and the bundle; keeping the inputs lets
the registry re-decide recorded traffic under a draft policy (docs/reports.md, "Policy
replay"). Kept: ``{"pre": <pre-execution input>, "post": <post-execution input> | null}``, the
very documents the engine was asked (``now`` and the measured ``rate`` included, so time- and
rate-dependent policies replay exactly), after:

- masking: every string is masked with the call's ``mask`` obligation (the patterns applied to
  the answer, stock ones when the call never got obligations), so a secret in a path or a
  caller's id is not stored in the clear;
- a size cap: above ``MAX_INPUT_BYTES`` of compact JSON the input is dropped (null) and
  ``sidecar_decision_inputs_dropped_total{reason}`` counts it.

``--no-decision-inputs`` turns keeping off (every event's ``input`` is null).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter

from kernel.audit_event import MAX_INPUT_BYTES, input_size
from sidecar.masking import MaskingError, masker_for

REASONS: Final = ("too_large", "unmaskable")


@dataclass
class InputKeeper:
    """Turns a call's recorded inputs into the event's ``input`` (None: not kept)."""

    registry: CollectorRegistry | None = None
    enabled: bool = True
    max_bytes: int = MAX_INPUT_BYTES
    dropped: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.dropped = Counter(
            "sidecar_decision_inputs_dropped_total",
            "Decision inputs not kept in audit events (too large, or masking failed)",
            ["reason"],
            registry=self.registry,
        )
        for reason in REASONS:
            self.dropped.labels(reason)

    def keep(
        self,
        pre: dict[str, Any] | None,
        post: dict[str, Any] | None,
        mask: tuple[tuple[str, str], ...],
    ) -> dict[str, Any] | None:
        if not self.enabled or pre is None:
            return None
        doc: dict[str, Any] = {"pre": pre, "post": post}
        if mask:
            try:
                doc, _ = masker_for(mask).mask_value(doc)
            except MaskingError:
                self.dropped.labels("unmaskable").inc()
                return None
        if input_size(doc) > self.max_bytes:
            self.dropped.labels("too_large").inc()
            return None
        return doc
