"""Long polling of a Deployment's live DAGs: ETags, wake-ups after commit, and the waiters.

A waiting agent costs one asyncio future: no thread and no database connection. Waiters
are woken from two sources:

- in this process, the :class:`LiveWatcher` subscribes to the database's committed
  ``DeployFinished`` events, so it hears of a new live deploy right after its commit;
- changes committed by other server replicas are found by a periodic re-check, one query
  per second for all the Deployments that have waiters in this process.

Either way the watcher reads the new live DAGs once and hands them to every waiter of that
Deployment (each was authorised when its request began), so waking 1,000 agents costs
one query, not 1,000.

The ETag of the live DAGs is the id of the live deploy (``"none"`` before any deploy).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from tarmac.db.unit_of_work import Database
from tarmac.deployments.models import Deployment
from tarmac.deployments.schemas import DagDeployMode
from tarmac.deploys.models import Deploy
from tarmac.deploys.schemas import CurrentDags
from tarmac.events.domain import DeployFinished, DomainEvent, LiveDeployRestored

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60.0
"""Longest long poll; agents re-poll after it (proxies often cut idle requests at 60 s+)."""
RECHECK_SECONDS = 1.0
_QUERY_CHUNK = 500

# --- ETags ------------------------------------------------------------------------------


def live_etag(deploy_id: str | None) -> str:
    """The ETag value (without quotes) naming the live deploy."""
    return deploy_id or "none"


def quoted_etag(deploy_id: str | None) -> str:
    return f'"{live_etag(deploy_id)}"'


def etag_matches(if_none_match: str | None, deploy_id: str | None) -> bool:
    """Whether an ``If-None-Match`` header names the live deploy (``*`` names any)."""
    if not if_none_match:
        return False
    wanted = live_etag(deploy_id)
    for raw in if_none_match.split(","):
        tag = raw.strip().removeprefix("W/").strip('"')
        if tag in ("*", wanted):
            return True
    return False


# --- What agents read -------------------------------------------------------------------


def live_dags(session: Session, deployment_ids: Collection[str]) -> dict[str, CurrentDags]:
    """The live DAGs of each existing Deployment among ``deployment_ids`` (no access check).

    Same answer as ``deploys.service.current_dags``, for many Deployments in one query.
    """
    live = aliased(Deploy)
    found: dict[str, CurrentDags] = {}
    ids = sorted(deployment_ids)
    for start in range(0, len(ids), _QUERY_CHUNK):
        rows = session.execute(
            select(
                Deployment.id,
                Deployment.dag_deploy_mode,
                live.id,
                live.bundle_sha256,
                live.dag_deploy_enabled,
            )
            .outerjoin(live, live.id == Deployment.current_deploy_id)
            .where(Deployment.id.in_(ids[start : start + _QUERY_CHUNK]))
        )
        for deployment_id, mode, deploy_id, bundle_sha256, dag_deploy_enabled in rows:
            found[deployment_id] = CurrentDags(
                deploy_id=deploy_id,
                bundle_sha256=bundle_sha256,
                # Before any deploy, the Deployment's mode says whether DAG deploys are on.
                dag_deploy_enabled=dag_deploy_enabled
                if deploy_id is not None
                else mode == DagDeployMode.DAG_DEPLOY,
            )
    return found


# --- Waiters ----------------------------------------------------------------------------


@dataclass(eq=False)
class Waiter:
    """One waiting request, answered with the live DAGs once they differ from ``etag``."""

    deployment_id: str
    changed: asyncio.Future[CurrentDags | None] = field(repr=False)
    etag: str | None = None
    """The live ETag the request last read (None until then: any check wakes it)."""
    sleeping: bool = False
    """In :meth:`wait`: holding nothing but this object and its connection's socket."""

    async def wait(self, timeout: float) -> CurrentDags | None:
        """The new live DAGs; None after ``timeout`` or when the server stops."""
        self.sleeping = True
        try:
            with suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(self.changed), timeout)
            return None
        finally:
            self.sleeping = False

    def wake(self, live: CurrentDags | None) -> None:
        if not self.changed.done():
            self.changed.set_result(live)

    def rearm(self) -> None:
        """Wait again after a wake-up that turned out to change nothing for this ETag."""
        if self.changed.done():
            self.changed = asyncio.get_running_loop().create_future()


class LiveWatcher:
    """The long-poll waiters of one app, by Deployment, and the task that wakes them."""

    def __init__(
        self,
        *,
        read_live: Callable[[Collection[str]], dict[str, CurrentDags]],
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self._read_live = read_live
        self._recheck_seconds = recheck_seconds
        self._waiters: dict[str, set[Waiter]] = {}
        self._poked: set[str] = set()
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def waiting(self) -> int:
        """How many requests are registered (reading the live deploy, or sleeping)."""
        return sum(len(waiters) for waiters in self._waiters.values())

    @property
    def sleeping(self) -> int:
        """How many requests are idle, waiting for a change."""
        return sum(w.sleeping for waiters in self._waiters.values() for w in waiters)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="tarmac-live-watcher")

    async def close(self) -> None:
        """Answer every waiter now ("not modified") and stop re-checking."""
        self.release_all()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    def release_all(self) -> None:
        """Wake every waiter; new waits end at once. Call on the event loop's thread."""
        self.closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.wake(None)

    def release_all_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.release_all)

    def on_event(self, event: DomainEvent) -> None:
        """Handler of committed domain events: a deploy that went live pokes its waiters."""
        if (isinstance(event, DeployFinished) and event.went_live) or isinstance(
            event, LiveDeployRestored
        ):
            self.poke(event.deployment_id)

    def poke(self, deployment_id: str) -> None:
        """The live deploy of ``deployment_id`` changed here (callable from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._poke, deployment_id)

    @contextmanager
    def watch(self, *, deployment_id: str) -> Iterator[Waiter]:
        """Register a waiter for as long as the block runs (register first, then read)."""
        waiter = Waiter(deployment_id, asyncio.get_running_loop().create_future())
        if self.closed:
            waiter.wake(None)
        self._waiters.setdefault(deployment_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(deployment_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[deployment_id]

    def _poke(self, deployment_id: str) -> None:
        if deployment_id in self._waiters:
            self._poked.add(deployment_id)
            self._wakeup.set()

    async def _run(self) -> None:
        next_full_check = time.monotonic() + self._recheck_seconds
        while True:
            timeout = max(0.0, next_full_check - time.monotonic())
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            self._wakeup.clear()
            due, self._poked = self._poked, set()
            if time.monotonic() >= next_full_check:
                # Changes committed by other replicas send no poke: look for them too.
                due |= set(self._waiters)
                next_full_check = time.monotonic() + self._recheck_seconds
            if due:
                await self._check(due)

    async def _check(self, deployment_ids: set[str]) -> None:
        try:
            live = await anyio.to_thread.run_sync(self._read_live, deployment_ids)
        except Exception:  # the database may be briefly away; the next round retries
            log.exception("could not read the live deploys of waiting agents")
            return
        for deployment_id in deployment_ids:
            state = live.get(deployment_id)
            if state is None:  # deleted: its waiters time out, and their next poll gets 404
                continue
            etag = live_etag(state.deploy_id)
            for waiter in tuple(self._waiters.get(deployment_id, ())):
                if etag != waiter.etag:
                    waiter.wake(state)


@asynccontextmanager
async def watching(database: Database) -> AsyncIterator[LiveWatcher]:
    """Run a :class:`LiveWatcher` for one app while the block runs."""

    def read_live(deployment_ids: Collection[str]) -> dict[str, CurrentDags]:
        with database.session() as session:
            return live_dags(session, deployment_ids)

    watcher = LiveWatcher(read_live=read_live)
    watcher.start()
    restore_signals = _release_on_exit_signals(watcher)
    try:
        with database.subscribed(watcher.on_event):
            yield watcher
    finally:
        restore_signals()
        await watcher.close()


def _release_on_exit_signals(watcher: LiveWatcher) -> Callable[[], None]:
    """Answer waiters as soon as the server is told to stop.

    uvicorn lets in-flight requests finish before it runs the app's shutdown, so without
    this a stopping server would wait for every long poll to time out.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    installed: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(
            sig: int, frame: FrameType | None, previous: Callable[..., Any] = previous
        ) -> None:
            watcher.release_all_threadsafe()
            previous(sig, frame)

        signal.signal(signum, handler)
        installed[signum] = (handler, previous)

    def restore() -> None:
        for signum, (handler, previous) in installed.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, previous)

    return restore
