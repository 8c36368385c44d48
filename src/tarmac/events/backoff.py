"""Exponential backoff with jitter, so retrying exporters don't stampede a recovering server."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_MAX_DOUBLINGS = 30  # far past any cap; keeps 2**n from growing without bound


@dataclass
class Backoff:
    """The n-th consecutive failure waits between half and all of ``min(cap, base * 2**n)``."""

    base_seconds: float = 0.5
    cap_seconds: float = 60.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """The wait before the next try; each call counts one more failure."""
        ceiling = min(
            self.cap_seconds, self.base_seconds * 2.0 ** min(self.failures, _MAX_DOUBLINGS)
        )
        self.failures += 1
        # "Equal jitter": never retry at once, but spread processes that failed together.
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0
