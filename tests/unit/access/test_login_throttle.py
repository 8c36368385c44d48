"""Password guessing slows down: five free failures, then a doubling wait."""

from __future__ import annotations

from tarmac.access.login_throttle import (
    FIRST_LOCKOUT_SECONDS,
    FORGET_AFTER_SECONDS,
    MAX_LOCKOUT_SECONDS,
    LoginThrottle,
)


def test_five_failures_are_free_then_the_wait_doubles() -> None:
    throttle = LoginThrottle()
    for _ in range(4):
        throttle.failed("Dana", now=0)
    assert throttle.wait_seconds("dana", now=0) == 0
    throttle.failed("dana", now=0)
    assert throttle.wait_seconds("DANA", now=0) == FIRST_LOCKOUT_SECONDS
    throttle.failed("dana", now=1)
    assert throttle.wait_seconds("dana", now=1) == 2 * FIRST_LOCKOUT_SECONDS
    for _ in range(20):
        throttle.failed("dana", now=2)
    assert throttle.wait_seconds("dana", now=2) == MAX_LOCKOUT_SECONDS
    assert throttle.wait_seconds("someone-else", now=2) == 0


def test_success_and_time_forgive() -> None:
    throttle = LoginThrottle()
    for _ in range(6):
        throttle.failed("eve", now=0)
    throttle.succeeded("eve")
    assert throttle.wait_seconds("eve", now=0) == 0
    for _ in range(5):
        throttle.failed("fay", now=0)
    later = FORGET_AFTER_SECONDS + 10
    throttle.failed("fay", now=later)  # an old streak is forgotten: this is failure 1
    assert throttle.wait_seconds("fay", now=later) == 0
