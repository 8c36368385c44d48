"""The environment of each Airflow component: all configuration by environment variables.

Each Airflow version gets its own ``AIRFLOW_CONFIG`` file (an ``airflow.cfg`` written by
Airflow 3 stops Airflow 2 from starting), and everything tarmac relies on is set here,
so the files Airflow writes never decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import make_url

from tarmac.local_runtime.environments import EnvironmentSpec
from tarmac.local_runtime.layout import RuntimeHome
from tarmac.runtimes.versions import parse_airflow_version

COMPONENTS_3 = ("scheduler", "dag-processor", "api-server", "triggerer")
COMPONENTS_2 = ("scheduler", "dag-processor", "webserver", "triggerer")


def database_driver_requirements(airflow_version: str, *, sqlite: bool) -> tuple[str, ...]:
    """What an environment needs beside Airflow to reach its metadata database.

    PostgreSQL: psycopg2, and on Airflow 3 asyncpg too (its async engine, which Airflow
    derives from the URL as ``postgresql+asyncpg``, is created by every command).
    """
    if sqlite:
        return ()
    return ("psycopg2-binary", "asyncpg") if is_airflow_3(airflow_version) else ("psycopg2-binary",)


def airflow_database_url(url: str) -> str:
    """The URL as Airflow must get it: a bare ``postgresql://`` names psycopg2, the driver
    the environment holds. SQLAlchemy 2.1 (which pip picks for Airflow 3.1) reads a bare
    ``postgresql://`` as psycopg 3, which is not installed: ``db migrate`` then failed."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql":
        return url
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def is_airflow_3(airflow_version: str) -> bool:
    return parse_airflow_version(airflow_version) >= (3, 0, 0)


def components_for(
    airflow_version: str, wanted: tuple[str, ...] | None = None, *, sqlite: bool = False
) -> tuple[str, ...]:
    """The components to run: all that the version has, or those of ``wanted`` it has.

    Airflow 2 refuses a standalone DAG processor on SQLite: there its scheduler parses.
    """
    available: tuple[str, ...] = COMPONENTS_3 if is_airflow_3(airflow_version) else COMPONENTS_2
    if sqlite and not is_airflow_3(airflow_version):
        available = tuple(c for c in available if c != "dag-processor")
    if wanted is None:
        return available
    return tuple(c for c in available if c in wanted)


@dataclass(frozen=True)
class AirflowSettings:
    """What is the same for every component of one Deployment on this host."""

    home: RuntimeHome
    database_url: str
    web_port: int

    @property
    def sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def environment_spec(
        self, airflow_version: str, deploy_requirements: tuple[str, ...] = ()
    ) -> EnvironmentSpec:
        """Airflow, the PostgreSQL driver when the database is one, the deploy's requirements."""
        return EnvironmentSpec(
            airflow_version=airflow_version,
            extra_requirements=database_driver_requirements(airflow_version, sqlite=self.sqlite),
            deploy_requirements=deploy_requirements,
        )

    def components(self, airflow_version: str, wanted: tuple[str, ...] | None) -> tuple[str, ...]:
        return components_for(airflow_version, wanted, sqlite=self.sqlite)

    def environment(
        self, airflow_version: str, *, deployment_env: dict[str, str]
    ) -> dict[str, str]:
        """The Deployment's env vars, overlaid by what tarmac must control."""
        major, minor, _ = parse_airflow_version(airflow_version)
        keys = self.home.airflow_secrets()
        ports = self.home.ports()
        sqlite = self.database_url.startswith("sqlite")
        env = {
            **deployment_env,
            "AIRFLOW_HOME": str(self.home.airflow_home),
            "AIRFLOW_CONFIG": str(self.home.airflow_home / f"airflow-{major}.{minor}.cfg"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # A deployed DAG runs on its schedule, as on Astro; pause it in Airflow if not.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_database_url(self.database_url),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home.airflow_home / "logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["worker_logs"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_logs"]),
            "AIRFLOW__WEBSERVER__SECRET_KEY": keys["secret_key"],
            "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
            # New files and changed files are noticed within seconds, not minutes
            # (docs/runtime.md, "How Airflow notices a deploy or a rollback").
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            # A changed file is re-parsed first when its mtime is newer than its last
            # parse: the order tarmac's touch after a switch relies on (Airflow's default).
            "AIRFLOW__SCHEDULER__FILE_PARSING_SORT_MODE": "modified_time",
            # Else a DAG re-parsed within 30 s of its last write is NOT written: a rollback
            # soon after a deploy would leave the serialized DAG on the newer code until
            # the next parse. 0 writes every change at once (unchanged DAGs are still
            # skipped by their hash, so this costs no writes).
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
            # The API server / webserver re-reads a changed serialized DAG within 2 s.
            "AIRFLOW__CORE__MIN_SERIALIZED_DAG_FETCH_INTERVAL": "2",
        }
        if major >= 3:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__API__HOST": "127.0.0.1",
                    "AIRFLOW__API__PORT": str(self.web_port),
                    "AIRFLOW__API__WORKERS": "1",
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
                        f"http://127.0.0.1:{self.web_port}/execution/"
                    ),
                    "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
                    # The API server listens on loopback only; its health and version
                    # endpoints are what the runtime side asks.
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                    "AIRFLOW__DAG_PROCESSOR__FILE_PARSING_SORT_MODE": "modified_time",
                    # How often the DAG processor looks at its bundles at all (5 s by
                    # default): the folder's listing and the bundle's own refresh wait on it.
                    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
                }
            )
        else:
            env.update(
                {
                    # Airflow 2 allows only the sequential executor on SQLite.
                    "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor" if sqlite else "LocalExecutor",
                    "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": str(not sqlite),
                    "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                    "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(self.web_port),
                    "AIRFLOW__WEBSERVER__WORKERS": "1",
                    "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.default",
                }
            )
        return env


def component_arguments(name: str, *, web_port: int) -> list[str]:
    if name == "api-server":
        return ["api-server", "--host", "127.0.0.1", "--port", str(web_port)]
    if name == "webserver":
        return ["webserver", "--hostname", "127.0.0.1", "--port", str(web_port)]
    return [name]
