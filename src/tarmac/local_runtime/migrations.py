"""The metadata database's change of Airflow version: ``db migrate`` or ``db downgrade``.

An upgrade runs ``airflow db migrate`` with the target environment; a downgrade runs
``airflow db downgrade`` with the current, newer one (only it has the migrations to
undo), after the known repairs, and then makes sure the older Airflow never reads DAGs
that the newer one serialized.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tarmac.local_runtime.airflow_commands import RolloutFailed, run_airflow
from tarmac.local_runtime.downgrade_repairs import apply_repairs, repair_after_downgrade
from tarmac.local_runtime.environments import Environment
from tarmac.local_runtime.journal import Reached
from tarmac.local_runtime.layout import RuntimeHome
from tarmac.local_runtime.metadata_db import MetadataDatabase
from tarmac.runtimes.versions import parse_airflow_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migrations:
    """One rollout's database steps; ``say`` reports each in words (state ``migrating``)."""

    database: MetadataDatabase
    home: RuntimeHome
    airflow_env: Callable[[str], dict[str, str]]
    say: Callable[[str], None]
    timeout_seconds: float
    repairs: bool

    def migrate(
        self,
        previous: Reached | None,
        previous_env: Environment | None,
        target: Reached,
        target_env: Environment,
    ) -> None:
        if previous is None or not older(target.airflow_version, previous.airflow_version):
            self.say(f"airflow db migrate to {target.airflow_version}")
            self._run(target_env, "db", "migrate", what="airflow db migrate")
            return
        if previous_env is None:
            raise RolloutFailed(
                f"the environment of Airflow {previous.airflow_version} that must run the "
                "downgrade is not on this host"
            )
        versions = {"from_airflow": previous.airflow_version, "to_airflow": target.airflow_version}
        for repair in apply_repairs(self.database, **versions) if self.repairs else []:
            self.say(repair)
        self.say(
            f"airflow db downgrade --to-version {target.airflow_version} "
            f"(with Airflow {previous.airflow_version})"
        )
        self._run(
            previous_env,
            *("db", "downgrade", "--to-version", target.airflow_version, "-y"),
            what="airflow db downgrade",
        )
        for repair in repair_after_downgrade(self.database, **versions) if self.repairs else []:
            self.say(repair)

    def after_downgrade(self, target_env: Environment) -> None:
        """The older Airflow must not read DAGs the newer one serialized.

        Airflow's own downgrade below 3.0 empties ``serialized_dag`` and ``dag_code``; then
        there is nothing to rewrite ahead: the started components serialize the DAGs as
        they parse them, and the health wait requires that parse. Otherwise (a downgrade
        within one major line) ``airflow dags reserialize`` rewrites them with the older
        Airflow first.
        """
        try:
            left = self.database.facts()["row_counts"].get("serialized_dag")
        except Exception:
            log.exception("could not count the serialized DAGs; reserializing them")
            left = None
        version = target_env.airflow_version
        if left == 0:
            self.say(
                "the downgrade left no serialized DAGs: Airflow "
                f"{version} serializes them as it parses them"
            )
            return
        self.say(f"airflow dags reserialize (with Airflow {version})")
        self._run(target_env, "dags", "reserialize", what="airflow dags reserialize")

    def _run(self, environment: Environment, *args: str, what: str) -> None:
        run_airflow(
            environment,
            *args,
            env=self.airflow_env(environment.airflow_version),
            log_path=self.home.component_log("migrations"),
            what=what,
            timeout=self.timeout_seconds,
            cwd=self.home.airflow_home,
            record=self.home.command_record,
        )


def older(left: str, right: str) -> bool:
    return parse_airflow_version(left) < parse_airflow_version(right)
