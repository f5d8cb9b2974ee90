"""The spool's ``drop_oldest`` overflow (log shipping): appends never fail for space, the oldest
segments go first, and every dropped line is counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.spool import Spool, SpoolFull


def line(n: int) -> bytes:
    return json.dumps({"n": n, "pad": "x" * 80}, separators=(",", ":")).encode()


def ns(spool: Spool) -> list[int]:
    return [e["n"] for e in spool.read_batch(10_000).events]


def dropping(path: Path, max_bytes: int = 4096, segment_bytes: int = 1024) -> Spool:
    return Spool(
        path,
        max_bytes=max_bytes,
        segment_bytes=segment_bytes,
        fsync=False,
        name="log",
        overflow="drop_oldest",
    )


def test_a_full_spool_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    with dropping(tmp_path) as spool:
        for n in range(200):
            spool.append_line(line(n))  # never raises
        kept = ns(spool)
        assert spool.size_bytes() <= 4096
        assert kept == list(range(200 - len(kept), 200))  # the newest, in order, no gap
        assert spool.dropped == 200 - len(kept) > 0
        assert spool.pending() == len(kept)


def test_a_refusing_spool_still_refuses(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=4096, segment_bytes=1024, fsync=False) as spool:
        with pytest.raises(SpoolFull):
            for n in range(200):
                spool.append_line(line(n))
        assert spool.dropped == 0


def test_a_batch_read_before_a_drop_commits_what_is_left_of_it(tmp_path: Path) -> None:
    with dropping(tmp_path) as spool:
        for n in range(30):
            spool.append_line(line(n))
        batch = spool.read_batch(25)  # in flight while more lines push the oldest out
        for n in range(30, 60):
            spool.append_line(line(n))
        assert spool.dropped > 0
        spool.commit(batch)  # no error: the cursor is never moved back
        rest = ns(spool)
        assert rest == list(range(60 - len(rest), 60))
        assert spool.pending() == len(rest)
        assert rest[0] >= 25  # nothing before the committed batch's end comes back


def test_drops_survive_reopening_without_resending(tmp_path: Path) -> None:
    with dropping(tmp_path) as spool:
        for n in range(100):
            spool.append_line(line(n))
        kept = ns(spool)
    with dropping(tmp_path) as again:
        assert ns(again) == kept and again.pending() == len(kept)


@pytest.mark.parametrize("bad", [b"not json", b'{"a":1}\n{"b":2}', b'{"a":"\x00"}'])
def test_append_line_takes_one_json_object_only(tmp_path: Path, bad: bytes) -> None:
    with dropping(tmp_path) as spool, pytest.raises(ValueError):
        spool.append_line(bad)


def test_overflow_mode_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overflow"):
        Spool(tmp_path, overflow="block")
