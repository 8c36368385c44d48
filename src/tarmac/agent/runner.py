"""The agent's loop: long poll, switch, and keep the last good code while the server is away."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tarmac.agent.cache import BundleCache
from tarmac.agent.client import (
    AgentRejected,
    BundleDigestMismatch,
    LiveCodeClient,
    LiveDags,
    ServerUnavailable,
)
from tarmac.agent.folder import LiveFolder, Switch
from tarmac.agent.reparse import ReparseRequests, ignore_syntax_from_env
from tarmac.agent.stopping import AgentStopping, StopSignal
from tarmac.errors import TarmacError
from tarmac.events.backoff import Backoff

log = logging.getLogger("tarmac.agent")

RETRYABLE = (
    ServerUnavailable,
    AgentRejected,
    BundleDigestMismatch,
    TarmacError,  # InvalidBundle from the materialiser
    OSError,
)
"""Failures after which the agent keeps the code it has and tries again later."""


@dataclass(frozen=True)
class AgentConfig:
    """What one agent keeps in sync: a Deployment's live DAGs into one folder."""

    server_url: str
    token: str
    deployment_id: str
    dags_folder: Path
    cache_dir: Path
    keep: int = 10
    wait_seconds: float = 30.0
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    # Airflow 2.10+'s metadata database: changed files are put first in its parse queue.
    airflow_database_url: str | None = field(default=None, repr=False)


def default_cache_dir(dags_folder: Path) -> Path:
    """Beside the DAGs folder, so the symlink's relative target stays on the same volume."""
    return dags_folder.parent / f".{dags_folder.name}.tarmac-cache"


class Agent:
    """One Deployment's live DAGs kept in one folder."""

    def __init__(self, config: AgentConfig, *, client: LiveCodeClient | None = None) -> None:
        self.config = config
        self.client = client or LiveCodeClient(
            server_url=config.server_url, token=config.token, deployment_id=config.deployment_id
        )
        cache = BundleCache(
            root=config.cache_dir,
            fetch=lambda sha256, path: self.client.download(sha256, into=path),
            files=self.client,
        )
        self.reparse = (
            ReparseRequests(
                database_url=config.airflow_database_url,
                dags_folder=config.dags_folder,
                ignore_syntax=ignore_syntax_from_env(),
            )
            if config.airflow_database_url
            else None
        )
        self.folder = LiveFolder(
            link=config.dags_folder, cache=cache, keep=config.keep, reparse=self.reparse
        )

    def close(self) -> None:
        self.client.close()
        if self.reparse is not None:
            self.reparse.close()

    def sync_once(self) -> Switch | None:
        """Bring the folder to the live deploy now; raises if it could not."""
        self.folder.check()
        live = self.client.current()
        assert live is not None  # no ETag sent, so never "not modified"
        return self._switch(live)

    def run(self, stop: StopSignal) -> None:
        """Follow the live deploy until ``stop``; failures are logged and retried."""
        self.folder.check()
        backoff = Backoff(
            base_seconds=self.config.backoff_base_seconds,
            cap_seconds=self.config.backoff_cap_seconds,
        )
        shown = self.folder.shown()
        log.info(
            "agent for deployment %s keeps %s on its live DAGs (now deploy %s)",
            self.config.deployment_id,
            self.config.dags_folder,
            _id(shown),
        )
        while not stop.requested:
            try:
                shown = self._step(shown, stop)
                backoff.reset()
            except AgentStopping:
                break
            except RETRYABLE as exc:
                delay = backoff.next_delay()
                log.warning(
                    "%s; keeping deploy %s live, retrying in %.1f s",
                    exc,
                    _id(shown),
                    delay,
                )
                stop.sleep(delay)
        log.info("agent stopped; %s stays on deploy %s", self.config.dags_folder, _id(shown))

    def _step(self, shown: LiveDags | None, stop: StopSignal) -> LiveDags | None:
        etag = shown.etag if shown else None
        with stop.interruptible():
            live = self.client.current(etag=etag, wait_seconds=self.config.wait_seconds)
        if live is None:
            return shown
        self._switch(live)
        return live

    def _switch(self, live: LiveDags) -> Switch | None:
        switch = self.folder.switch_to(live)
        if switch is not None:
            log.info("%s", switch.describe())
        return switch


def _id(shown: LiveDags | None) -> str:
    return (shown.deploy_id if shown else None) or "-"
