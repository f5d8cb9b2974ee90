"""Which version serves a call during a canary: stable or canary, by weight.

A caller that sends a stable id (e.g. the JWT `sub`) is sticky: the id hashes to a bucket 0..99
and goes to the canary when the bucket is below the weight, so one user does not flip between
versions, and raising the weight only moves more callers over (nobody moves back). Callers
without an id are split at random. The hash is blake2b, not `hash()`, so every sidecar process
and every restart agrees."""

from __future__ import annotations

import hashlib
import random
from typing import Literal

Target = Literal["stable", "canary"]
BUCKETS = 100


def bucket(caller_key: str) -> int:
    """The caller's fixed bucket, 0..99. Lone surrogates (possible in a JSON-decoded `sub`) are
    hashed as they are rather than refused."""
    digest = hashlib.blake2b(caller_key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def choose(canary_weight: int, caller_key: str | None, rng: random.Random) -> Target:
    """Weight is the canary's percent (0..100). An empty key counts as no key."""
    if isinstance(canary_weight, bool) or not isinstance(canary_weight, int):
        raise ValueError(f"canary weight must be an integer, got {canary_weight!r}")
    if not 0 <= canary_weight <= BUCKETS:
        raise ValueError(f"canary weight must be from 0 to 100, got {canary_weight}")
    if canary_weight == 0:
        return "stable"
    if canary_weight == BUCKETS:
        return "canary"
    draw = bucket(caller_key) if caller_key else rng.randrange(BUCKETS)
    return "canary" if draw < canary_weight else "stable"
