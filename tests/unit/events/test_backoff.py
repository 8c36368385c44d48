"""Backoff grows exponentially, stays within its cap, jitters, and resets."""

from __future__ import annotations

import random

from tarmac.events.backoff import Backoff


def test_delays_double_within_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base_seconds=1.0, cap_seconds=8.0, rng=random.Random(7))
    for ceiling in (1.0, 2.0, 4.0, 8.0, 8.0, 8.0):
        assert ceiling / 2 <= backoff.next_delay() <= ceiling


def test_jitter_spreads_exporters_that_failed_together() -> None:
    delays = {Backoff(rng=random.Random(seed)).next_delay() for seed in range(20)}
    assert len(delays) == 20


def test_reset_starts_over_and_long_outages_do_not_overflow() -> None:
    backoff = Backoff(base_seconds=1.0, cap_seconds=60.0)
    for _ in range(10_000):
        backoff.next_delay()
    assert backoff.next_delay() <= 60.0
    backoff.reset()
    assert backoff.next_delay() <= 1.0
