"""What a person reads: plans that say they are plans, refusals that say what to do next."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.cli.conftest import (
    history_seqs,
    tarmac_cli,
    tarmac_table,
    two_deploys_and_a_downgrade,
)
from tests.support.process import ServerProcess


def test_a_dry_run_says_it_is_a_plan_and_nothing_changed(cli_server: ServerProcess) -> None:
    deployment_id = two_deploys_and_a_downgrade(cli_server)
    preview = tarmac_cli(cli_server, "rollback", "Sales ETL", "1", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "Dry run" in preview.output and "nothing changed" in preview.output
    assert "Rolled back" not in preview.output
    assert "tarmac rollback 'Sales ETL' '#1' -d" in preview.output
    assert history_seqs(cli_server, deployment_id) == [2, 1]


def test_an_unchanged_runtime_reads_unchanged(cli_server: ServerProcess) -> None:
    deployment_id = two_deploys_and_a_downgrade(cli_server)
    with cli_server.client() as api:
        api.post(
            f"/api/v1/deployments/{deployment_id}/deploys",
            data={"type": "IMAGE_ONLY", "image": "repo/etl:3"},
        ).raise_for_status()
    preview = tarmac_cli(cli_server, "rollback", "Sales ETL", "2", "--dry-run")
    assert preview.exit_code == 0, preview.output
    runtime_row = next(line for line in preview.output.splitlines() if "runtime" in line)
    assert "unchanged" in runtime_row and "(none)" not in preview.output


def test_a_declined_confirmation_is_not_a_rollback(cli_server: ServerProcess) -> None:
    deployment_id = two_deploys_and_a_downgrade(cli_server)
    for answer in ("n\n", None):  # "no", and no answer at all (stdin at its end)
        declined = tarmac_cli(cli_server, "rollback", "Sales ETL", "1", "-d", "x", input=answer)
        assert declined.exit_code == 1, declined.output
        assert "not rolled back" in declined.output
        assert "Rolled back" not in declined.output
        assert "data_loss" in declined.output
        assert history_seqs(cli_server, deployment_id) == [2, 1]
    accepted = tarmac_cli(cli_server, "rollback", "Sales ETL", "1", "-d", "x", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Rolled back: deploy #3 brings back the code of #1" in accepted.output
    assert history_seqs(cli_server, deployment_id) == [3, 2, 1]


def test_a_missing_description_is_reported_before_any_plan(cli_server: ServerProcess) -> None:
    two_deploys_and_a_downgrade(cli_server)
    refused = tarmac_cli(cli_server, "rollback", "Sales ETL", "1")
    assert refused.exit_code == 1
    assert "description_required" in refused.output
    assert "changes" not in refused.output and "runtime" not in refused.output


def test_deploy_checks_the_deployment_before_packing(
    cli_server: ServerProcess, tmp_path: Path
) -> None:
    two_deploys_and_a_downgrade(cli_server)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "a.py").write_text("x = 1\n")
    refused = tarmac_cli(cli_server, "deploy", "Sales ELT", "--dags", str(dags))
    assert refused.exit_code == 1
    assert "no Deployment named 'Sales ELT'" in refused.output
    assert "did you mean 'Sales ETL'" in refused.output
    assert "Packed" not in refused.output


def test_short_ids_and_seq_numbers_work_everywhere(cli_server: ServerProcess) -> None:
    deployment_id = two_deploys_and_a_downgrade(cli_server)
    listed = tarmac_cli(cli_server, "deploys", "list", "Sales ETL")
    assert listed.exit_code == 0, listed.output
    first_row = next(line for line in listed.output.splitlines() if re.search(r"│ 1 +│", line))
    short = re.search(r"\b[0-9a-f]{8}\b", first_row)
    assert short, first_row
    by_short = tarmac_cli(cli_server, "deploys", "show", "Sales ETL", short[0])
    by_seq = tarmac_cli(cli_server, "deploys", "show", "Sales ETL", "#1")
    assert by_short.exit_code == 0 and by_seq.exit_code == 0, by_short.output
    assert by_short.output == by_seq.output
    deployment_short = tarmac_cli(cli_server, "deploys", "show", deployment_id[:8], "1")
    assert deployment_short.output == by_seq.output
    rolled = tarmac_cli(cli_server, "rollback", "Sales ETL", short[0], "-d", "x", "--yes")
    assert rolled.exit_code == 0, rolled.output


def test_rollbacks_are_marked_in_the_history_and_shown_as_a_record(
    cli_server: ServerProcess,
) -> None:
    two_deploys_and_a_downgrade(cli_server)
    done = tarmac_cli(cli_server, "rollback", "Sales ETL", "1", "-d", "2 broke", "--yes")
    assert done.exit_code == 0, done.output
    listed = tarmac_table(cli_server, "deploys", "list", "Sales ETL", columns=200)
    rows = [line for line in listed.stdout.splitlines() if "repo/etl" in line]
    assert "to #1" in rows[0] and "live" in rows[0]
    assert not any("to #" in row for row in rows[1:])
    shown = tarmac_cli(cli_server, "deploys", "show", "Sales ETL", "3")
    lines = shown.output.splitlines()
    assert lines[0] == "Deploy #3"
    fields = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines[1:] if line)
    assert fields["seq"] == "3" and fields["rolled back to"].startswith("#1 (")
    assert fields["description"] == "2 broke"
    assert max(len(line) for line in lines) <= 100  # a record, not a 12-column table


def test_the_history_fits_an_80_column_terminal(cli_server: ServerProcess) -> None:
    two_deploys_and_a_downgrade(cli_server)
    tarmac_cli(cli_server, "rollback", "Sales ETL", "1", "-d", "2 broke", "--yes")
    listed = tarmac_table(cli_server, "deploys", "list", "Sales ETL", columns=80)
    assert listed.code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "#" in line and "when" in line)
    for column in ("id", "when", "status", "live", "rollback", "description"):
        assert column in header
    assert "…" not in listed.stdout  # nothing cut off; only the description wraps
    assert "to #1" in next(line for line in lines if "live" in line and "│ 3" in line)
