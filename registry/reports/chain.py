"""The audit chain's verification for a report, incremental: events verified before are
remembered as checkpoints (every CHECKPOINT_EVERY events and at the head), and a report
re-hashes only what was appended after the newest checkpoint. Every checkpoint is compared with
its event's current hash, so re-chaining the trail after an edit (which changes every later
hash) shows; an edit that keeps the stored hash wrong shows once it is re-hashed, i.e. when it
lies after the newest checkpoint (docs/reports.md, "Audit chain")."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from registry.audit.chain import GENESIS, verify_chain
from registry.reports.model import ChainResult
from registry.store.audit import PgAudit
from registry.store.reports import add_checkpoint, checkpoints

BATCH = 5000
CHECKPOINT_EVERY = 100_000


def _broken(
    seq: int, checked: int, problem: str, start: tuple[int, str, datetime | None]
) -> ChainResult:
    return ChainResult(
        ok=False,
        head_seq=seq,
        rehashed=checked,
        checkpoint_seq=start[0] or None,
        checkpoint_verified_at=start[2],
        broken_at_seq=seq,
        problem=problem,
    )


async def verify(pool: asyncpg.Pool, full: bool = False) -> ChainResult:
    """Compare every checkpoint with its event, then re-hash from the newest one (`full`: from
    the first event)."""
    known = await checkpoints(pool)
    for cp in known:
        if cp.current_hash != cp.hash:
            return _broken(
                cp.seq,
                0,
                "a verified event was changed or removed",
                (cp.seq, cp.hash, cp.verified_at),
            )
    start: tuple[int, str, datetime | None] = (0, GENESIS, None)
    if known and not full:
        start = (known[-1].seq, known[-1].hash, known[-1].verified_at)
    saved = 0

    async def checkpoint(seq: int, digest: str, checked: int) -> None:
        nonlocal saved
        if checked - saved >= CHECKPOINT_EVERY:
            await add_checkpoint(pool, seq, digest, datetime.now(UTC))
            saved = checked

    report = await verify_chain(PgAudit(pool), BATCH, (start[0], start[1]), checkpoint)
    if report.broken_at_seq is not None:
        return _broken(report.broken_at_seq, report.checked, report.problem or "", start)
    if report.checked:
        await add_checkpoint(pool, report.last_seq, report.last_hash, datetime.now(UTC))
    return ChainResult(
        ok=True,
        head_seq=report.last_seq,
        rehashed=report.checked,
        checkpoint_seq=start[0] or None,
        checkpoint_verified_at=start[2],
    )
