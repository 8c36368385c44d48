"""The ``tarmac`` CLI against a real server: tables for people, JSON for scripts, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tarmac.cli.main import app
from tests.support.bundles import dag_file
from tests.support.process import ServerProcess
from tests.support.server import ADMIN_TOKEN


@pytest.fixture
def cli_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path}/t.db")
    process.start()
    try:
        yield process
    finally:
        process.stop()


def run(
    server: ServerProcess,
    *args: str,
    token: str = ADMIN_TOKEN,
    input: str | None = None,
) -> Any:
    runner = CliRunner()
    env = {
        "TARMAC_SERVER": server.url,
        "TARMAC_TOKEN": token,
        "XDG_CONFIG_HOME": str(server.data_dir / "xdg"),
        "COLUMNS": "200",
    }
    return runner.invoke(app, list(args), env=env, input=input)


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_deployment_lifecycle_and_errors(cli_server: ServerProcess) -> None:
    created = as_json(
        run(
            cli_server,
            "deployment",
            "create",
            "Sales ETL",
            "--runtime",
            "12.4.0",
            "--dag-deploy-mode",
            "dag_deploy",
            "--env",
            "A=1",
            "--secret-env",
            "PW=x",
            "-o",
            "json",
        )
    )
    assert created["name"] == "Sales ETL"
    assert created["env_vars"][1] == {"key": "PW", "value": None, "is_secret": True}
    listed = as_json(run(cli_server, "deployment", "list", "-o", "json"))
    assert [d["id"] for d in listed["items"]] == [created["id"]]
    table = run(cli_server, "deployment", "list")
    assert table.exit_code == 0 and "Sales" in table.output and created["id"][:6] in table.output
    got = as_json(run(cli_server, "deployment", "get", "Sales ETL", "-o", "json"))
    assert got["id"] == created["id"]
    updated = as_json(
        run(
            cli_server,
            "deployment",
            "update",
            "Sales ETL",
            "--rollback",
            "--description",
            "nightly",
            "-o",
            "json",
        )
    )
    assert updated["rollback_enabled"] is True and updated["description"] == "nightly"
    bad = run(cli_server, "deployment", "create", "x", "--runtime", "99.9.9")
    assert bad.exit_code == 1
    assert "unknown_runtime_version" in bad.output
    unauth = run(cli_server, "deployment", "list", token="wrong")
    assert unauth.exit_code == 1 and "unauthenticated" in unauth.output
    runtimes = as_json(run(cli_server, "runtimes", "list", "-o", "json"))
    assert any(r["version"] == "5.0.0" for r in runtimes["items"])


def test_users_tokens_and_login(cli_server: ServerProcess) -> None:
    user = as_json(
        run(cli_server, "user", "create", "dana", "--system-role", "SYSTEM_EDITOR", "-o", "json")
    )
    token = as_json(
        run(cli_server, "token", "create", "--user", user["id"], "--name", "ci", "-o", "json")
    )
    assert token["token"].startswith("tmc_")
    login = run(
        cli_server, "login", "--server", cli_server.url, "--token", token["token"], token=""
    )
    assert login.exit_code == 0, login.output
    assert "dana" in login.output
    saved = cli_server.data_dir / "xdg" / "tarmac" / "config.json"
    assert (saved.stat().st_mode & 0o777) == 0o600
    runner = CliRunner()  # no TARMAC_* in the environment: the login file is used
    result = runner.invoke(
        app,
        ["deployment", "list", "-o", "json"],
        env={
            "XDG_CONFIG_HOME": str(cli_server.data_dir / "xdg"),
            "TARMAC_SERVER": "",
            "TARMAC_TOKEN": "",
        },
    )
    assert result.exit_code == 0, result.output


def test_deploy_history_and_rollback(cli_server: ServerProcess, tmp_path: Path) -> None:
    as_json(
        run(
            cli_server,
            "deployment",
            "create",
            "etl",
            "--runtime",
            "12.4.0",
            "--dag-deploy-mode",
            "dag_deploy",
            "-o",
            "json",
        )
    )
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "one.py").write_text(dag_file("one"))
    (dags / "scratch.py").write_text("ignored")
    (dags / ".airflowignore").write_text("scratch\n")
    first = as_json(
        run(cli_server, "deploy", "etl", "--dags", str(dags), "--image", "repo/i:1", "-o", "json")
    )
    assert first["type"] == "IMAGE_AND_DAG" and first["status"] == "DEPLOYED"
    (dags / "two.py").write_text(dag_file("two"))
    second = as_json(run(cli_server, "deploy", "etl", "--dags", str(dags), "-o", "json"))
    assert second["type"] == "DAG_ONLY"
    assert second["description"] == "Deployed via <tarmac deploy --dags>"
    live = cli_server.data_dir / "deployments"
    release = next(live.iterdir())
    assert sorted(p.name for p in (release / "dags").iterdir()) == [
        ".airflowignore",
        "one.py",
        "two.py",
    ]
    history = as_json(run(cli_server, "deploys", "list", "etl", "-o", "json"))["items"]
    assert [d["seq"] for d in history] == [2, 1]
    shown = as_json(run(cli_server, "deploys", "show", "etl", "#1", "-o", "json"))
    assert shown["id"] == first["id"]
    refused = run(cli_server, "rollback", "etl", "1", "-d", "broken", "--yes")
    assert refused.exit_code == 1
    assert "rollback_not_enabled" in refused.output
    run(cli_server, "deployment", "update", "etl", "--rollback")
    preview = run(cli_server, "rollback", "etl", "1", "--dry-run")
    assert preview.exit_code == 0 and "two.py" in preview.output
    no_reason = run(cli_server, "rollback", "etl", "1")
    assert no_reason.exit_code == 1 and "description" in no_reason.output
    done = as_json(
        run(cli_server, "rollback", "etl", "1", "-d", "two broke", "--yes", "-o", "json")
    )
    assert done["rollback_from_id"] == first["id"] and done["seq"] == 3
    assert sorted(p.name for p in (release / "dags").iterdir()) == [".airflowignore", "one.py"]


def test_rollback_asks_about_each_warning(cli_server: ServerProcess) -> None:
    as_json(
        run(
            cli_server,
            "deployment",
            "create",
            "old",
            "--runtime",
            "12.4.0",
            "--dag-deploy-mode",
            "image",
            "-o",
            "json",
        )
    )
    as_json(run(cli_server, "deploy", "old", "--image", "i:1", "-o", "json"))
    as_json(run(cli_server, "deploy", "old", "--image", "i:2", "--runtime", "3.1-2", "-o", "json"))
    run(cli_server, "deployment", "update", "old", "--rollback")
    declined = run(cli_server, "rollback", "old", "1", "-d", "back", input="n\n")
    assert declined.exit_code == 1
    assert "data_loss" in declined.output and "nothing changed" in declined.output
    accepted = run(cli_server, "rollback", "old", "1", "-d", "back", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "3.1-2" in accepted.output


def test_server_refuses_bad_configuration_with_one_clear_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    values = tmp_path / "values.yaml"
    values.write_text("houston:\n  cleanupDeployRevisions:\n    olderThan: ninety\n")
    command = [sys.executable, "-m", "tarmac", "server", "--data-dir", str(tmp_path / "d")]
    bad_values = subprocess.run(
        [*command, "--values", str(values)], capture_output=True, text=True, timeout=60
    )
    assert bad_values.returncode == 1
    assert "houston.cleanupDeployRevisions.olderThan" in bad_values.stderr
    bad_database = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "TARMAC_DATABASE_URL": "postgresql://tarmac:hunter2@127.0.0.1:1/none",
        },
    )
    assert bad_database.returncode == 1
    assert "cannot use the database" in bad_database.stderr
    assert "hunter2" not in bad_database.stderr
