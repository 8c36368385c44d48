"""The DAG bundle's watcher: hears of a deploy or rollback the moment the server commits it.

Airflow 3's DAG processor calls the bundle's ``refresh()`` only when its
``bundle_refresh_check_interval`` finds the bundle's ``refresh_interval`` elapsed: up to
3 s with tarmac's defaults before the processor even asks which deploy is live. It does
not wait, though, for a bundle one of whose files has a priority parse request: in the
loop that finds the request it refreshes that bundle, then parses the requested files
first (``_queue_requested_files_for_parsing``).

So a thread of the DAG processor long polls the server, as the agent does. When the live
deploy changes, it unpacks the new bundle into the cache (``refresh()`` then only swaps a
symlink) and asks Airflow to parse the files that will change. The switch itself stays
in ``refresh()``, under Airflow's bundle lock, so the version Airflow records for the
DAGs it parses is always the one the folder shows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tarmac.agent.client import LiveCodeClient, LiveDags
from tarmac.agent.folder import LiveFolder
from tarmac.agent.runner import RETRYABLE
from tarmac.airflow.parse_requests import BundleParseRequests
from tarmac.events.backoff import Backoff

log = logging.getLogger(__name__)

WAIT_SECONDS = 30.0
"""How long one long poll waits for a change before it is sent again."""


class LiveWatch:
    """A daemon thread that prepares the next switch and wakes the DAG processor for it."""

    def __init__(
        self,
        *,
        client: Callable[[], LiveCodeClient],
        folder: LiveFolder,
        reparse: BundleParseRequests,
        switching: threading.Lock,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self._client = client
        self.folder = folder
        self.reparse = reparse
        self.switching = switching
        self.wait_seconds = wait_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tarmac-live-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        client = self._client()  # its own connection: a long poll holds one for seconds
        backoff = Backoff(base_seconds=0.5, cap_seconds=30.0)
        shown = self.folder.shown()
        etag = shown.etag if shown else None
        try:
            while not self._stop.is_set():
                try:
                    live = client.current(etag=etag, wait_seconds=self.wait_seconds)
                    backoff.reset()
                except Exception as exc:  # the thread never dies: refresh() still polls
                    delay = backoff.next_delay()
                    log.warning("tarmac live watch: %s; asking again in %.1f s", exc, delay)
                    self._stop.wait(delay)
                    continue
                if live is None:
                    continue
                etag = live.etag
                self._prepare(live)
        finally:
            client.close()

    def _prepare(self, live: LiveDags) -> None:
        """Unpack ``live``'s bundle and ask Airflow to parse what the switch will change."""
        try:
            with self.switching:
                shown = self.folder.shown()
                if shown is not None and shown.bundle_sha256 == live.bundle_sha256:
                    return  # refresh() got there first
                target = self.folder.cache.ensure(live.bundle_sha256)
                changed = self.folder.changes_to(target)
                others = sorted(self.folder.digests.of(target))
                requested = self.reparse.request_ahead(target, changed, others=others)
        except RETRYABLE as exc:  # refresh() will download it, as it would without a watch
            log.warning("tarmac live watch could not prepare deploy %s: %s", live.deploy_id, exc)
            return
        except Exception:
            log.exception("tarmac live watch could not prepare deploy %s", live.deploy_id)
            return
        log.info(
            "deploy %s is live on tarmac; asked Airflow to refresh and parse %d file(s)",
            live.deploy_id,
            len(requested),
        )
