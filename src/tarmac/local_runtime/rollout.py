"""One rollout: bring this host's Airflow from the deploy it runs to the desired one.

On a change of Airflow version, in this order: prepare the target environment (nothing
stops before it exists), stop the components, snapshot the metadata database, migrate
it (``db migrate`` with the target) or downgrade it (``db downgrade`` with the current,
newer environment), switch the DAGs, start the target and wait until it is healthy.
Any failure after the stop restores the snapshot and restarts the previous runtime. A
change that keeps the Airflow version only restarts; a DAG-only change restarts nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from tarmac.agent.folder import LiveFolder
from tarmac.failpoints import failpoint
from tarmac.local_runtime.airflow_commands import RolloutFailed
from tarmac.local_runtime.airflow_settings import AirflowSettings
from tarmac.local_runtime.client import Desired
from tarmac.local_runtime.components import Supervisor
from tarmac.local_runtime.deploy_requirements import (
    DeployRequirementsInvalid,
    read_deploy_requirements,
)
from tarmac.local_runtime.environments import (
    Environment,
    EnvironmentBuildFailed,
    EnvironmentCache,
)
from tarmac.local_runtime.health import Health, check_health
from tarmac.local_runtime.import_errors import ImportErrors, read_import_errors, wait_for_parse
from tarmac.local_runtime.journal import (
    InProgress,
    Journal,
    JournalState,
    Reached,
    settings_digest,
)
from tarmac.local_runtime.metadata_db import MetadataDatabase, Snapshot
from tarmac.local_runtime.migrations import Migrations, older

log = logging.getLogger(__name__)

Report = Callable[..., None]

PARSE_TIMEOUT_SECONDS = 120.0
"""How long a switch waits for Airflow to parse every DAG file before it reports anyway."""

# How often the health wait asks Airflow (a few SQL queries and one HTTP request): the
# rollout ends at most this long after the components are healthy.
HEALTH_POLL_SECONDS = 0.5


class LocalRuntime:
    """Runs one Deployment's Airflow on this host and converges it on the desired deploy."""

    def __init__(
        self,
        *,
        settings: AirflowSettings,
        envs: EnvironmentCache,
        folder: LiveFolder,
        database: MetadataDatabase,
        report: Report,
        add_snapshot: Callable[[str | None, Snapshot], str],
        components: tuple[str, ...] | None = None,
        health_timeout_seconds: float = 300.0,
        command_timeout_seconds: float = 900.0,
        downgrade_repairs: bool = True,
    ) -> None:
        self.settings = settings
        self.envs = envs
        self.folder = folder
        self.database = database
        self.report = report
        self.add_snapshot = add_snapshot
        self.wanted_components = components
        self.health_timeout_seconds = health_timeout_seconds
        self.downgrade_repairs = downgrade_repairs
        self.command_timeout_seconds = command_timeout_seconds
        self.supervisor = Supervisor(settings.home)
        self.journal = Journal(settings.home.journal)
        self.last_health: Health | None = None
        # Files of the reached deploy that fail to import and did not before its switch.
        self.new_import_errors: frozenset[str] = frozenset()
        self._said_idle = False
        self._env_vars: dict[str, str] = {}

    # -- start-up -------------------------------------------------------------------------

    def recover(self, desired: Desired) -> None:
        """After a restart: stop leftovers, undo a half-done rollout, run what was reached."""
        self._env_vars = desired.env_vars
        self.supervisor.stop_all()  # components and any `airflow db …` command left running
        self.database.discard_partial_snapshots()
        state = self.journal.read()
        if state.in_progress is not None:
            progress = state.in_progress
            log.warning(
                "a rollout to deploy %s was cut off at %s", progress.deploy_id, progress.step
            )
            if progress.snapshot_location:
                self.database.restore(progress.snapshot_location)
                log.warning("restored the metadata snapshot %s", progress.snapshot_location)
            if state.reached is not None:
                self.folder.switch_to(state.reached.live_dags())
            self.journal.write(replace(state, in_progress=None))
        if state.reached is not None:
            self._start(state.reached, rollout=None)

    # -- converging -----------------------------------------------------------------------

    def converge(self, desired: Desired) -> None:
        self._env_vars = desired.env_vars
        state = self.journal.read()
        if desired.deploy_id is None and state.reached is None and not self._said_idle:
            # Say that a runtime side is here, so `--wait` on a first deploy waits for it.
            self.report(state="stopped", components=[], error=None, message="no deploy yet")
            self._said_idle = True
        if desired.deploy_id is None or desired.deploy_id in state.failed_deploy_ids:
            return
        reached = state.reached
        if reached is None or not reached.keeps_image_of(desired.image, desired.airflow_version):
            self._roll_out(state, desired, requirements=None)  # an image deploy
            return
        # The same image side (a DAG-only deploy, or new settings): the environment that
        # runs is kept as it is, requirements included.
        found = self.envs.find(
            self.settings.environment_spec(desired.airflow_version, reached.requirements)
        )
        target = self._target(desired, found.digest if found else "", reached.requirements)
        if found is not None and reached.same_runtime(target):
            if reached.deploy_id != target.deploy_id:
                before = self._import_errors()
                switched = datetime.now(UTC)
                self.folder.switch_to(desired.live_dags())  # DAG-only: nothing restarts
                self._await_parse(switched, before)
                self.journal.write(replace(state, reached=target))
                self._report_health("running", rollout=None)
            elif not self.supervisor.names():
                self._start(reached, rollout=None)
            return
        self._roll_out(state, desired, requirements=reached.requirements)

    def _roll_out(
        self, state: JournalState, desired: Desired, *, requirements: tuple[str, ...] | None
    ) -> None:
        """Roll out ``desired``; ``requirements`` None: those of its bundle's requirements.txt."""
        previous = state.reached
        deploy_id = desired.deploy_id or ""
        self._say("preparing", deploy_id, f"preparing Airflow {desired.airflow_version}")
        try:
            # Download before anything stops; an image deploy's bundle names its requirements.
            bundle_dir = self.folder.cache.ensure(desired.bundle_sha256)
            if requirements is None:
                requirements = read_deploy_requirements(bundle_dir)
            spec = self.settings.environment_spec(desired.airflow_version, requirements)
            target_env = self.envs.ensure(
                spec, progress=lambda m: self._say("preparing", deploy_id, m)
            )
        except (EnvironmentBuildFailed, DeployRequirementsInvalid, OSError, Exception) as exc:
            self._fail(state, deploy_id, f"preparing the target failed: {exc}", restored=previous)
            return
        target = self._target(desired, target_env.digest, requirements)
        previous_env = self._environment_of(previous)
        version_change = previous is None or previous.airflow_version != target.airflow_version
        before = self._import_errors() if previous is not None else None
        self._say("stopping", deploy_id, "stopping the components")
        self.supervisor.stop_all()
        failpoint("runtime_after_stop")
        snapshot: Snapshot | None = None
        try:
            if version_change and previous is not None and self.database.exists():
                self._say("snapshotting", deploy_id, "snapshotting the metadata database")
                snapshot = self.database.snapshot(airflow_version=previous.airflow_version)
                self.journal.write(
                    replace(
                        state,
                        in_progress=InProgress(
                            deploy_id, "snapshotted", snapshot.location, previous.airflow_version
                        ),
                    )
                )
                failpoint("runtime_after_snapshot")
                self.add_snapshot(deploy_id, snapshot)
            if version_change:
                self._migrations(deploy_id).migrate(previous, previous_env, target, target_env)
            failpoint("runtime_after_migrate")
            switched = datetime.now(UTC)
            self.folder.switch_to(desired.live_dags())
            if previous is not None and older(target.airflow_version, previous.airflow_version):
                self._migrations(deploy_id).after_downgrade(target_env)
            self._start(target, rollout=deploy_id, raise_on_failure=True)
            self._await_parse(switched, before)
        except Exception as exc:
            log.exception("rollout to deploy %s failed", deploy_id)
            self._restore_previous(state, previous, snapshot)
            self._fail(state, deploy_id, str(exc), restored=previous)
            return
        self.journal.write(
            JournalState(
                reached=target, in_progress=None, failed_deploy_ids=state.failed_deploy_ids
            )
        )
        self._report_health("running", rollout=None)

    def _restore_previous(
        self, state: JournalState, previous: Reached | None, snapshot: Snapshot | None
    ) -> None:
        self.supervisor.stop_all()
        if snapshot is not None:
            self.database.restore(snapshot.location)
        if previous is not None:
            self.folder.switch_to(previous.live_dags())
        self.journal.write(replace(state, in_progress=None))
        if previous is not None:
            try:
                self._start(previous, rollout=None, raise_on_failure=True)
            except Exception:
                log.exception("the previous runtime did not come back healthy")

    # -- components -------------------------------------------------------------------------

    def start_reached(self, reached: Reached) -> None:
        """Start the runtime of a reached deploy (after a restore of its snapshot)."""
        self._start(reached, rollout=None)

    def _start(
        self, reached: Reached, *, rollout: str | None, raise_on_failure: bool = False
    ) -> None:
        environment = self._environment_of(reached)
        if environment is None:
            raise RolloutFailed(
                f"no environment for Airflow {reached.airflow_version} on this host"
            )
        if rollout:
            self._say("starting", rollout, f"starting Airflow {reached.airflow_version}")
        names = self.settings.components(reached.airflow_version, self.wanted_components)
        started = datetime.now(UTC)
        self.supervisor.start(
            names,
            environment=environment,
            env=self._airflow_env(reached.airflow_version),
            web_port=self.settings.web_port,
        )
        if rollout:
            failpoint("runtime_after_start")  # the target runs, the journal has not reached it
            self._say("starting", rollout, f"waiting for Airflow {reached.airflow_version} health")
        health = self._wait_healthy(started, expect_dags=reached.bundle_sha256 is not None)
        if not health.healthy or not health.dags_parsed:
            message = (
                f"Airflow {reached.airflow_version} did not become healthy: {health.problems()}"
            )
            if raise_on_failure:
                raise RolloutFailed(message)
            log.warning("%s", message)

    def _wait_healthy(self, started: datetime, *, expect_dags: bool) -> Health:
        deadline = time.monotonic() + self.health_timeout_seconds
        while True:
            health = check_health(
                self.supervisor,
                database_url=self.database.url,
                web_port=self.settings.web_port,
                started_at=started,
                expect_dags=expect_dags,
            )
            self.last_health = health
            if (health.healthy and health.dags_parsed) or self.supervisor.exited():
                return health
            if time.monotonic() > deadline:
                return health
            time.sleep(HEALTH_POLL_SECONDS)

    # -- import errors ----------------------------------------------------------------------

    def _import_errors(self) -> ImportErrors:
        return read_import_errors(self.database.url, self.settings.home.dags)

    def _await_parse(self, switched: datetime, before: ImportErrors | None) -> None:
        """Let Airflow parse every DAG file of the new folder, then note its new errors."""
        wait_for_parse(
            self.database.url,
            self.settings.home.dags,
            since=switched,
            timeout_seconds=min(self.health_timeout_seconds, PARSE_TIMEOUT_SECONDS),
        )
        self.new_import_errors = self._import_errors().since(before).new

    # -- reporting --------------------------------------------------------------------------

    def report_now(self) -> None:
        """A periodic report of what runs, its health and the database's facts."""
        if self.journal.read().reached is None or not self.supervisor.names():
            return
        self.last_health = check_health(
            self.supervisor,
            database_url=self.database.url,
            web_port=self.settings.web_port,
            started_at=datetime.fromtimestamp(0, UTC),
            expect_dags=False,
        )
        self._report_health("running", rollout=None)

    def _report_health(self, state: str, *, rollout: str | None, error: str | None = None) -> None:
        reached = self.journal.read().reached
        health = self.last_health
        facts: dict[str, Any] = {}
        try:
            facts = self.database.facts()
        except Exception:
            log.exception("could not read the metadata database's facts")
        errors = self._import_errors()
        errors = ImportErrors(errors.errors, self.new_import_errors & set(errors.errors))
        self.report(
            state=state,
            rollout_deploy_id=rollout,
            reached_deploy_id=reached.deploy_id if reached else None,
            airflow_version=health.airflow_version if health else None,
            components=[{"name": c.name, "healthy": c.healthy} for c in health.components]
            if health
            else [],
            error=error,
            metadata_facts=facts,
            import_errors=errors.report(),
        )

    def _say(self, state: str, deploy_id: str, message: str) -> None:
        log.info("deploy %s: %s", deploy_id, message)
        reached = self.journal.read().reached
        self.report(
            state=state,
            rollout_deploy_id=deploy_id,
            reached_deploy_id=reached.deploy_id if reached else None,
            components=[],
            error=None,
            message=message,
        )

    def _fail(
        self, state: JournalState, deploy_id: str, error: str, *, restored: Reached | None
    ) -> None:
        current = self.journal.read()
        self.journal.write(
            replace(current, failed_deploy_ids=(*current.failed_deploy_ids, deploy_id))
        )
        health = self.last_health
        self.report(
            state="failed",
            rollout_deploy_id=deploy_id,
            reached_deploy_id=restored.deploy_id if restored else None,
            restored_deploy_id=restored.deploy_id if restored else None,
            airflow_version=health.airflow_version if health and restored else None,
            components=[{"name": c.name, "healthy": c.healthy} for c in health.components]
            if health and restored
            else [],
            error=error[-4000:],
        )

    # -- helpers ----------------------------------------------------------------------------

    def _target(self, desired: Desired, env_digest: str, requirements: tuple[str, ...]) -> Reached:
        return Reached(
            deploy_id=desired.deploy_id or "",
            airflow_version=desired.airflow_version,
            image=desired.image,
            env_digest=env_digest,
            bundle_sha256=desired.bundle_sha256,
            dag_deploy_enabled=desired.dag_deploy_enabled,
            settings_digest=settings_digest(desired.env_vars),
            requirements=requirements,
        )

    def _environment_of(self, reached: Reached | None) -> Environment | None:
        if reached is None:
            return None
        # The very environment it ran with; else what its spec names (an older journal).
        return self.envs.find_by_digest(
            reached.env_digest, reached.airflow_version
        ) or self.envs.find(
            self.settings.environment_spec(reached.airflow_version, reached.requirements)
        )

    def _migrations(self, deploy_id: str) -> Migrations:
        return Migrations(
            database=self.database,
            home=self.settings.home,
            airflow_env=self._airflow_env,
            say=lambda message: self._say("migrating", deploy_id, message),
            timeout_seconds=self.command_timeout_seconds,
            repairs=self.downgrade_repairs,
        )

    def _airflow_env(self, airflow_version: str) -> dict[str, str]:
        return self.settings.environment(airflow_version, deployment_env=self._env_vars)
