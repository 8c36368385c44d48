"""``tarmac runtime run``'s loop: follow the live deploy, report, stop cleanly on SIGTERM."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tarmac.agent.cache import BundleCache
from tarmac.agent.client import AgentRejected, ServerUnavailable
from tarmac.agent.folder import LiveFolder
from tarmac.agent.reparse import ReparseRequests
from tarmac.agent.stopping import AgentStopping, StopSignal
from tarmac.events.backoff import Backoff
from tarmac.local_runtime.airflow_settings import AirflowSettings
from tarmac.local_runtime.client import Desired, RuntimeClient
from tarmac.local_runtime.environments import EnvironmentCache
from tarmac.local_runtime.layout import RuntimeHome
from tarmac.local_runtime.metadata_db import MetadataDatabase, Snapshot
from tarmac.local_runtime.rollout import LocalRuntime

log = logging.getLogger("tarmac.runtime")

POLL_SECONDS = 10.0


@dataclass(frozen=True)
class RuntimeConfig:
    server_url: str
    token: str
    deployment_id: str
    home: Path
    env_cache: Path
    database_url: str | None = None
    web_port: int | None = None
    components: tuple[str, ...] | None = None
    health_timeout_seconds: float = 300.0
    downgrade_repairs: bool = True


class RuntimeRunner:
    """Owns the client, the runtime and the loop."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        home = RuntimeHome(config.home.absolute())
        home.prepare()
        self.client = RuntimeClient(
            server_url=config.server_url, token=config.token, deployment_id=config.deployment_id
        )
        database_url = config.database_url or home.sqlite_url()
        cache = BundleCache(
            root=home.bundle_cache,
            fetch=lambda sha256, path: self.client.download(sha256, into=path),
        )
        self.runtime = LocalRuntime(
            settings=AirflowSettings(
                home=home,
                database_url=database_url,
                web_port=config.web_port or home.ports()["web"],
            ),
            envs=EnvironmentCache(config.env_cache),
            folder=LiveFolder(
                link=home.dags,
                cache=cache,
                keep=10,
                # Airflow parses the changed files next, even mid-cycle (agent/reparse.py).
                reparse=ReparseRequests(database_url=database_url, dags_folder=home.dags),
            ),
            database=MetadataDatabase(database_url, snapshots_dir=home.snapshots),
            report=self._report,
            add_snapshot=self._add_snapshot,
            components=config.components,
            health_timeout_seconds=config.health_timeout_seconds,
            downgrade_repairs=config.downgrade_repairs,
        )

    def run(self, stop: StopSignal) -> None:
        backoff = Backoff(base_seconds=0.5, cap_seconds=30.0)
        recovered = False
        etag: str | None = None
        while not stop.requested:
            try:
                desired = self.client.desired()
                if not recovered:
                    self.runtime.recover(desired)
                    recovered = True
                if desired.restore_snapshot_id and desired.restore_location:
                    self._restore(desired)
                self.runtime.converge(desired)
                self.runtime.report_now()
                self._prune_snapshots(desired.snapshot_locations)
                backoff.reset()
                with stop.interruptible():
                    etag = self.client.wait_for_change(etag, wait_seconds=POLL_SECONDS)
            except AgentStopping:
                break
            except (ServerUnavailable, AgentRejected, OSError) as exc:
                delay = backoff.next_delay()
                log.warning("%s; retrying in %.1f s", exc, delay)
                stop.sleep(delay)
        self.shutdown()

    def shutdown(self) -> None:
        log.info("stopping the Airflow components")
        self.runtime.supervisor.stop_all()
        try:
            reached = self.runtime.journal.read().reached
            self._report(
                state="stopped",
                reached_deploy_id=reached.deploy_id if reached else None,
                components=[],
            )
        except (ServerUnavailable, AgentRejected) as exc:
            log.warning("could not report the stop: %s", exc)
        self.client.close()

    def _restore(self, desired: Desired) -> None:
        runtime = self.runtime
        log.info("restoring metadata snapshot %s", desired.restore_snapshot_id)
        runtime.supervisor.stop_all()
        error = None
        try:
            runtime.database.restore(desired.restore_location or "")
        except OSError as exc:
            error = f"restore of snapshot {desired.restore_snapshot_id} failed: {exc}"
        reached = runtime.journal.read().reached
        if reached is not None:
            runtime.start_reached(reached)
        self._report(
            state="running" if error is None else "failed",
            reached_deploy_id=reached.deploy_id if reached else None,
            restored_snapshot_id=desired.restore_snapshot_id,
            components=[],
            error=error,
        )

    def _prune_snapshots(self, kept: tuple[str, ...]) -> None:
        """Delete snapshots the server no longer lists (cleanup let their deploy go).

        Never one of the last hour (it may not be recorded yet) or one a rollout needs.
        """
        runtime = self.runtime
        progress = runtime.journal.read().in_progress
        protected = {*kept, progress.snapshot_location if progress else None}
        cutoff = time.time() - 3600
        for path in runtime.settings.home.snapshots.glob("*.db"):
            if str(path) not in protected and path.stat().st_mtime < cutoff:
                runtime.database.delete_snapshot(str(path))

    def _report(self, **fields: Any) -> None:
        self.client.report({k: v for k, v in fields.items() if v is not None or k == "error"})

    def _add_snapshot(self, deploy_id: str | None, snapshot: Snapshot) -> str:
        return self.client.add_snapshot(
            deploy_id=deploy_id,
            airflow_version=snapshot.airflow_version,
            size_bytes=snapshot.size_bytes,
            location=snapshot.location,
        )
