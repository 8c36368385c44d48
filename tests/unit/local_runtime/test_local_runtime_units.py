"""The runtime side's pure parts: components per version, the journal, environment specs."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tarmac.cli.main import app
from tarmac.cli.runtime import describe_runtime
from tarmac.local_runtime.airflow_settings import AirflowSettings, components_for
from tarmac.local_runtime.environments import EnvironmentCache, EnvironmentSpec
from tarmac.local_runtime.journal import InProgress, Journal, JournalState, Reached
from tarmac.local_runtime.layout import RuntimeHome


def test_components_per_airflow_version_and_database() -> None:
    assert components_for("3.1.8") == ("scheduler", "dag-processor", "api-server", "triggerer")
    assert components_for("2.10.5") == ("scheduler", "dag-processor", "webserver", "triggerer")
    # Airflow 2 refuses a standalone DAG processor on SQLite: its scheduler parses.
    assert components_for("2.10.5", sqlite=True) == ("scheduler", "webserver", "triggerer")
    assert components_for("2.10.5", ("scheduler", "api-server"), sqlite=True) == ("scheduler",)


def test_each_airflow_version_gets_its_own_config_file_and_secrets_stay_in_env(
    tmp_path: Path,
) -> None:
    home = RuntimeHome(tmp_path)
    settings = AirflowSettings(home=home, database_url=home.sqlite_url(), web_port=8080)
    env3 = settings.environment("3.1.8", deployment_env={"PW": "x", "AIRFLOW_HOME": "/evil"})
    env2 = settings.environment("2.10.5", deployment_env={})
    assert env3["AIRFLOW_CONFIG"].endswith("airflow-3.1.cfg")
    assert env2["AIRFLOW_CONFIG"].endswith("airflow-2.10.cfg")
    assert env3["PW"] == "x" and env3["AIRFLOW_HOME"] == str(home.airflow_home)
    assert env2["AIRFLOW__CORE__EXECUTOR"] == "SequentialExecutor"
    assert env3["AIRFLOW__CORE__FERNET_KEY"] == env2["AIRFLOW__CORE__FERNET_KEY"]
    assert home.ports() == home.ports()  # chosen once, kept


def test_a_postgresql_url_reaches_airflow_with_the_driver_its_environment_holds(
    tmp_path: Path,
) -> None:
    """SQLAlchemy 2.1 (Airflow 3.1's environment) reads a bare postgresql:// as psycopg 3;
    Airflow 3 derives postgresql+asyncpg from it for its async engine."""
    home = RuntimeHome(tmp_path)
    settings = AirflowSettings(
        home=home, database_url="postgresql://u:p%40ss@db:5432/af", web_port=8080
    )
    assert set(settings.environment_spec("3.1.8").extra_requirements) == {
        "asyncpg",
        "psycopg2-binary",
    }
    assert settings.environment_spec("2.10.5").extra_requirements == ("psycopg2-binary",)
    for version in ("3.1.8", "2.10.5"):
        conn = settings.environment(version, deployment_env={})[
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
        ]
        assert conn == "postgresql+psycopg2://u:p%40ss@db:5432/af"
    chosen = "postgresql+pg8000://u@db/af"  # a driver the user named stays theirs
    settings = AirflowSettings(home=home, database_url=chosen, web_port=8080)
    assert (
        settings.environment("3.1.8", deployment_env={})["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == chosen
    )
    sqlite = AirflowSettings(home=home, database_url=home.sqlite_url(), web_port=8080)
    assert (
        sqlite.environment("3.1.8", deployment_env={})["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == home.sqlite_url()
    )


def test_environment_specs_add_the_fab_provider_only_from_airflow_3() -> None:
    assert EnvironmentSpec("3.1.8").requirements == (
        "apache-airflow==3.1.8",
        "apache-airflow-providers-fab",
    )
    assert EnvironmentSpec("2.10.5").requirements == ("apache-airflow==2.10.5",)
    assert EnvironmentSpec("2.10.5").key != EnvironmentSpec("2.10.4").key


def test_the_journal_round_trips_a_rollout_under_way(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "rollout.json")
    assert journal.read() == JournalState(None, None)
    reached = Reached("d1", "3.1.8", "img:1", "env", "sha", True, "s")
    state = JournalState(reached, InProgress("d2", "snapshotted", "/s.db", "3.1.8"), ("d0",))
    journal.write(state)
    assert journal.read() == state
    assert reached.same_runtime(Reached("d9", "3.1.8", "img:1", "env", "other", True, "s"))
    assert not reached.same_runtime(Reached("d9", "2.10.5", "img:1", "env", "sha", True, "s"))


def test_status_line_says_honestly_what_is_known() -> None:
    assert "nothing is known" in describe_runtime({"reported_at": None})
    line = describe_runtime(
        {
            "reported_at": "x",
            "state": "running",
            "reached_deploy_id": "d1",
            "airflow_version": "2.10.5",
            "components": [{"name": "scheduler", "healthy": False}],
        }
    )
    assert (
        line == "runtime running: deploy d1 reached, Airflow 2.10.5 running, unhealthy: scheduler"
    )


def test_status_line_says_what_a_stopped_runtime_runs_and_which_dags_fail() -> None:
    stopped = {"reported_at": "x", "state": "stopped", "message": "no deploy yet"}
    assert describe_runtime(stopped) == "runtime stopped: nothing runs (no deploy yet)"
    line = describe_runtime(
        {
            "reported_at": "x",
            "state": "running",
            "reached_deploy_id": "d2",
            "airflow_version": "2.10.5",
            "components": [{"name": "scheduler", "healthy": True}],
            "import_errors": [
                {"file": "ml.py", "error": "Traceback\nImportError: x", "new": True},
                {"file": "old.py", "error": "SyntaxError: y", "new": False},
            ],
        }
    )
    assert line.splitlines()[1:] == [
        "new import error: ml.py: ImportError: x",
        "import error: old.py: SyntaxError: y",
    ]


def test_prepare_with_postgres_finds_what_a_postgresql_runtime_asks_for(tmp_path: Path) -> None:
    """`tarmac runtime prepare 3.1-9 --postgres` (as .ci/run does) resolves to the very
    environment a runtime side with a PostgreSQL metadata database looks up."""
    home = RuntimeHome(tmp_path / "home")
    settings = AirflowSettings(home=home, database_url="postgresql://db/x", web_port=8080)
    asked = settings.environment_spec("3.1.8")
    built = tmp_path / "cache" / "envs" / "built-for-postgres"
    (built / "bin").mkdir(parents=True)
    (built / "bin" / "python").touch()
    (tmp_path / "cache" / "specs").mkdir()
    (tmp_path / "cache" / "specs" / f"{asked.key}.json").write_text(
        '{"digest": "built-for-postgres"}'
    )
    prepare = ["runtime", "prepare", "3.1-9", "--env-cache", str(tmp_path / "cache")]

    result = CliRunner().invoke(app, [*prepare, "--postgres"])
    assert result.exit_code == 0, result.output
    assert str(built) in result.output.replace("\n", "")
    assert EnvironmentCache(tmp_path / "cache").find(EnvironmentSpec("3.1.8")) is None
