"""A clean exit on SIGTERM/SIGINT: stop between steps, or at once while only waiting."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class AgentStopping(Exception):
    """Raised out of a wait (a long poll, a download) when the agent is told to stop."""


class StopSignal:
    """Set by a signal (or ``request()``); interrupts only the blocks marked interruptible.

    A switch of the DAGs folder is never cut in the middle: a signal during one is noted
    and honoured once it has finished.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._interruptible = False

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self) -> None:
        self._event.set()

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early if a stop is requested."""
        self._event.wait(seconds)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A block that a signal may end at once with :class:`AgentStopping`."""
        if self.requested:
            raise AgentStopping
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def install(self) -> Callable[[], None]:
        """Handle SIGTERM and SIGINT in this (main) thread; returns a function that undoes it."""
        previous: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._handle)

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        return restore

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self._event.set()
        # Python runs handlers in the main thread: raising here ends a blocked socket read.
        if self._interruptible:
            self._interruptible = False
            raise AgentStopping
