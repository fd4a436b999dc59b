"""Deterministic fault decisions: the same seed and the same sequence of events give the same faults."""

from __future__ import annotations

import hashlib
from collections import Counter

from .config import Faults


def draw(seed: int, name: str, n: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, name, n).

    Hashing instead of one shared random.Random keeps each fault kind's draws independent of how many draws
    the other kinds made, so enabling one fault does not reshuffle where another fires.
    """
    digest = hashlib.blake2b(f"{seed}:{name}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FaultPlan:
    """Counts the events each fault kind applies to and decides, per event, whether it fires."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self.seed = seed
        self.ordinals: Counter[str] = Counter()

    def fires(self, kind: str) -> bool:
        """Count one event of ``kind`` and say whether the fault fires on it."""
        self.ordinals[kind] += 1
        n = self.ordinals[kind]
        if n in self.faults.nth(kind):
            return True
        rate = self.faults.rate(kind)
        return rate > 0 and draw(self.seed, kind, n) < rate

    def applies_to(self, kind: str, route: str) -> bool:
        """Whether a request-level fault covers ``route``."""
        routes = self.faults.routes(kind)
        return not routes or route in routes

    def lost_post_drops(self) -> bool:
        """For a lost POST: drop the connection (True) or answer 500 (False)."""
        mode = self.faults.lost_post_mode
        if mode == "mixed":
            return draw(self.seed, "lost_post_mode", self.ordinals["lost_post"]) < 0.5
        return mode == "drop"
