"""Safe operations from the CLI against a real server process (no runtime side runs here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.test_cli import as_json, cli_server, run
from tests.support.bundles import dag_file
from tests.support.process import ServerProcess

__all__ = ["cli_server"]  # the fixture, shared with test_cli


def _deploy(server: ServerProcess, dags: Path, marker: str, *extra: str) -> Any:
    (dags / "etl.py").write_text(dag_file("etl", marker=marker))
    return run(server, "deploy", "etl", "--dags", str(dags), *extra)


def test_wait_hold_mark_bad_and_last_good(cli_server: ServerProcess, tmp_path: Path) -> None:
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
    run(cli_server, "deployment", "update", "etl", "--rollback")
    dags = tmp_path / "dags"
    dags.mkdir()
    first = as_json(_deploy(cli_server, dags, "v1", "-o", "json"))
    waited = _deploy(cli_server, dags, "v2", "--wait", "--timeout", "30", "-o", "json")
    assert waited.exit_code == 0, waited.output
    second = json.loads(waited.stdout)
    assert "DAG-only deploy #2 is DEPLOYED" in waited.stderr
    assert "no runtime side has ever reported" in waited.stderr

    marked = run(cli_server, "deploys", "mark-bad", "etl", "1", "-r", "loses rows")
    assert marked.exit_code == 0, marked.output
    listed = as_json(run(cli_server, "deploys", "list", "etl", "-o", "json"))["items"]
    assert listed[1]["marked_bad"]["reason"] == "loses rows"  # the table shows BAD (admin: …)
    declined = run(cli_server, "rollback", "etl", "1", "-d", "v2 broke", input="n\n")
    assert declined.exit_code == 1
    assert "marked bad" in declined.output and "nothing changed" in declined.output
    run(cli_server, "deploys", "unmark-bad", "etl", "1", "-r", "it was the warehouse")

    back = run(
        cli_server, "rollback", "etl", "--last-good", "-d", "v2 broke", "-y", "--wait", "-o", "json"
    )
    assert back.exit_code == 0, back.output
    rolled = json.loads(back.stdout)
    assert rolled["rollback_from_id"] == first["id"] and rolled["seq"] == 3
    assert "no runtime side has ever reported" in back.stderr

    shown = run(cli_server, "hold", "show", "etl")
    assert "HELD" in shown.output and "v2 broke" in shown.output
    assert "HELD" in run(cli_server, "deployment", "get", "etl").output
    refused = _deploy(cli_server, dags, "v3")
    assert refused.exit_code == 1 and "rollback_hold" in refused.output
    cleared = run(cli_server, "hold", "clear", "etl", "-r", "fixed in CI")
    assert cleared.exit_code == 0 and "Hold cleared" in cleared.output
    assert "not held" in run(cli_server, "hold", "show", "etl").output
    again = as_json(_deploy(cli_server, dags, "v3", "-o", "json"))
    assert again["seq"] == 4

    run(cli_server, "rollback", "etl", "2", "-d", "v3 broke", "-y")
    forced = as_json(_deploy(cli_server, dags, "v5", "--clear-hold", "-o", "json"))
    assert forced["cleared_hold"] is True
    assert second["seq"] == 2
    neither = run(cli_server, "rollback", "etl", "-d", "x")
    assert neither.exit_code != 0


def test_freeze_windows_and_settings_from_the_cli(
    cli_server: ServerProcess, tmp_path: Path
) -> None:
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
    window = [{"start": "2020-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z", "reason": "audit"}]
    updated = as_json(
        run(
            cli_server,
            "deployment",
            "update",
            "etl",
            "--freeze-windows",
            json.dumps(window),
            "--no-hold",
            "--auto-rollback",
            "--auto-rollback-window",
            "900",
            "-o",
            "json",
        )
    )
    assert updated["freeze_windows"][0]["reason"] == "audit"
    assert updated["rollback_hold_enabled"] is False
    assert updated["auto_rollback_enabled"] is True
    assert updated["auto_rollback_window_seconds"] == 900
    bad = run(cli_server, "deployment", "update", "etl", "--freeze-windows", "[{")
    assert bad.exit_code != 0 and "not JSON" in bad.output
    dags = tmp_path / "dags"
    dags.mkdir()
    frozen = _deploy(cli_server, dags, "v1")
    assert frozen.exit_code == 1 and "deploy_frozen" in frozen.output and "audit" in frozen.output
    forced = as_json(_deploy(cli_server, dags, "v1", "--override-freeze", "INC-7", "-o", "json"))
    assert forced["freeze_override_reason"] == "INC-7"
