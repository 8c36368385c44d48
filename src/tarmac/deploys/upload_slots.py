"""Bound the deploy uploads in flight, per user and for the whole server.

An upload holds a worker thread while its body arrives (the bundle is parsed and written
as it streams). Uploads run on their own capacity limiter, never the pool that serves
health checks, reads and the UI; beyond the bounds, a new upload is refused at once with
``too_many_uploads`` instead of waiting in line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from tarmac.errors import TooManyUploads


class UploadSlots:
    """Counts uploads in flight; create it inside the running event loop (app start)."""

    def __init__(self, *, per_user: int, total: int) -> None:
        self.per_user = per_user
        self.total = total
        self.limiter = anyio.CapacityLimiter(total)
        self._by_user: Counter[str] = Counter()

    @contextmanager
    def claim(self, user_id: str) -> Iterator[None]:
        """Hold one slot for ``user_id`` (call from the event loop), or refuse at once."""
        if self._by_user[user_id] >= self.per_user:
            raise TooManyUploads(
                f"you have {self.per_user} deploy uploads in flight already; "
                "wait for one to finish",
                scope="user",
                limit=self.per_user,
            )
        if sum(self._by_user.values()) >= self.total:
            raise TooManyUploads(
                f"the server has {self.total} deploy uploads in flight; try again shortly",
                scope="server",
                limit=self.total,
            )
        self._by_user[user_id] += 1
        try:
            yield
        finally:
            self._by_user[user_id] -= 1
            if not self._by_user[user_id]:
                del self._by_user[user_id]
