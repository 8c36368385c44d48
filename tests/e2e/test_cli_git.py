"""``tarmac deploy`` from a real Git repository made in the test: the deploy has its commit."""

from __future__ import annotations

import json
import subprocess
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


def run(server: ServerProcess, *args: str) -> Any:
    env = {
        "TARMAC_SERVER": server.url,
        "TARMAC_TOKEN": ADMIN_TOKEN,
        "XDG_CONFIG_HOME": str(server.data_dir / "xdg"),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, list(args), env=env)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "dags").mkdir(parents=True)
    (root / "dags" / "etl.py").write_text(dag_file("etl"))
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Ada Lovelace")
    git(root, "config", "user.email", "ada@example.com")
    git(root, "remote", "add", "origin", "https://ci-bot:s3cret@github.com/acme/pipelines.git")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Add the ETL DAG")
    return root


def test_deploy_carries_the_commit_and_reports_a_dirty_tree(
    cli_server: ServerProcess, repo: Path
) -> None:
    assert (
        run(
            cli_server,
            "deployment",
            "create",
            "sales",
            "--runtime",
            "12.4.0",
            "--dag-deploy-mode",
            "dag_deploy",
        ).exit_code
        == 0
    )
    head = git(repo, "rev-parse", "HEAD")

    clean = run(cli_server, "deploy", "sales", "--dags", str(repo / "dags"), "-o", "json")
    assert clean.exit_code == 0, clean.output
    assert "dirty" not in clean.output
    deploy = json.loads(clean.output)
    assert deploy["git"]["commit"] == head
    assert deploy["git"]["branch"] == "main"
    assert deploy["git"]["author"] == "Ada Lovelace <ada@example.com>"
    assert deploy["git"]["message"] == "Add the ETL DAG"
    # The token in the remote URL never leaves the machine.
    assert deploy["git"]["remote_url"] == "https://github.com/acme/pipelines.git"
    assert deploy["git"]["commit_url"] == f"https://github.com/acme/pipelines/commit/{head}"

    (repo / "dags" / "etl.py").write_text(dag_file("etl", marker="edited"))
    dirty = run(cli_server, "deploy", "sales", "--dags", str(repo / "dags"))
    assert dirty.exit_code == 0, dirty.output
    assert "The Git tree is dirty" in dirty.output
    assert head[:12] in dirty.output
    # For scripts (-o json) the output stays pure JSON; the commit is still sent.
    (repo / "dags" / "etl.py").write_text(dag_file("etl", marker="scripted"))
    scripted = run(cli_server, "deploy", "sales", "--dags", str(repo / "dags"), "-o", "json")
    assert json.loads(scripted.output)["git"]["commit"] == head

    (repo / "dags" / "etl.py").write_text(dag_file("etl", marker="again"))
    bare = run(
        cli_server, "deploy", "sales", "--dags", str(repo / "dags"), "--no-git", "-o", "json"
    )
    assert bare.exit_code == 0, bare.output
    assert "dirty" not in bare.output  # --no-git does not read the checkout at all
    assert json.loads(bare.output)["git"] is None

    listed = json.loads(run(cli_server, "deploys", "list", "sales", "-o", "json").output)["items"]
    assert [d["git"]["commit"] if d["git"] else None for d in listed] == [None, head, head, head]


def test_deploys_diff_prints_the_change(cli_server: ServerProcess, repo: Path) -> None:
    assert (
        run(
            cli_server,
            "deployment",
            "create",
            "sales",
            "--runtime",
            "12.4.0",
            "--dag-deploy-mode",
            "dag_deploy",
        ).exit_code
        == 0
    )
    assert run(cli_server, "deploy", "sales", "--dags", str(repo / "dags")).exit_code == 0
    (repo / "dags" / "etl.py").write_text(dag_file("etl", marker="second"))
    (repo / "dags" / "new.py").write_text("# new\n")
    assert run(cli_server, "deploy", "sales", "--dags", str(repo / "dags")).exit_code == 0
    table = run(cli_server, "deploys", "diff", "sales", "1", "2")
    assert table.exit_code == 0, table.output
    assert "added    new.py" in table.output
    assert "changed  etl.py" in table.output
    assert "+# second" in table.output
    as_json = json.loads(run(cli_server, "deploys", "diff", "sales", "1", "2", "-o", "json").output)
    assert as_json["dag_files"]["added"] == ["new.py"]
    missing = run(cli_server, "deploys", "diff", "sales", "1", "9")
    assert missing.exit_code != 0


def test_stats_and_webhooks_commands(cli_server: ServerProcess, repo: Path) -> None:
    assert (
        run(
            cli_server,
            "deployment",
            "create",
            "sales",
            "--runtime",
            "12.4.0",
            "--dag-deploy-mode",
            "dag_deploy",
        ).exit_code
        == 0
    )
    assert run(cli_server, "deploy", "sales", "--dags", str(repo / "dags")).exit_code == 0
    figures = json.loads(run(cli_server, "stats", "sales", "--days", "7", "-o", "json").output)
    assert (figures["days"], figures["deploys"], figures["rollbacks"]) == (7, 1, 0)
    everything = json.loads(run(cli_server, "stats", "-o", "json").output)
    assert everything["deploys"] == 1
    refused = run(
        cli_server,
        "webhooks",
        "add",
        "sales",
        "http://169.254.169.254/",
        "-e",
        "deploy.created",
        "--secret",
        "a-webhook-secret-of-some-length",
    )
    assert refused.exit_code == 1
    assert "webhook_url_refused" in refused.output
    added = json.loads(
        run(
            cli_server,
            "webhooks",
            "add",
            "sales",
            "https://hooks.example.com/t",
            "-e",
            "deploy.created",
            "-e",
            "deploy.rollback",
            "--secret",
            "a-webhook-secret-of-some-length",
            "-o",
            "json",
        ).output
    )
    assert added["events"] == ["deploy.created", "deploy.rollback"]
    listed = json.loads(run(cli_server, "webhooks", "list", "sales", "-o", "json").output)["items"]
    assert [w["url"] for w in listed] == ["https://hooks.example.com/t"]
    log = run(cli_server, "webhooks", "deliveries", "sales", added["id"], "-o", "json")
    assert log.exit_code == 0 and json.loads(log.output) == {"items": []}
