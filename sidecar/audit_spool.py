"""The sidecar's audit spool: :class:`kernel.spool.Spool` with ``overflow="refuse"`` (an audit
event is never dropped; a full spool fails the call closed). The implementation lives in the
kernel because log shipping (:mod:`kernel.log_shipper`) uses the same spool."""

from kernel.spool import (
    REJECTED_DIR,
    Batch,
    MiB,
    Position,
    Spool,
    SpoolError,
    SpoolFull,
    SpoolLocked,
    encode_event,
)

AuditSpool = Spool

__all__ = [
    "REJECTED_DIR",
    "AuditSpool",
    "Batch",
    "MiB",
    "Position",
    "SpoolError",
    "SpoolFull",
    "SpoolLocked",
    "encode_event",
]
