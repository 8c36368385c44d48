"""``--output json``: one JSON document on stdout in every success and refusal, no prompt.

Each command runs in a child process with stdin closed, as in a CI job.
"""

from __future__ import annotations

from tests.e2e.cli.conftest import history_seqs, tarmac_json, two_deploys_and_a_downgrade
from tests.support.process import ServerProcess
from tests.support.server import ADMIN_TOKEN


def test_every_list_has_the_same_shape(cli_server: ServerProcess) -> None:
    two_deploys_and_a_downgrade(cli_server)
    for args in (
        ("deployment", "list"),
        ("deploys", "list", "Sales ETL"),
        ("runtimes", "list"),
    ):
        run = tarmac_json(cli_server, *args)
        assert run.code == 0, run.stderr
        assert set(run.document) == {"items"}, args
        assert isinstance(run.document["items"], list) and run.document["items"], args


def test_rollback_needing_acknowledgement_is_refused_as_json_not_prompted(
    cli_server: ServerProcess,
) -> None:
    deployment_id = two_deploys_and_a_downgrade(cli_server)

    plan = tarmac_json(cli_server, "rollback", "Sales ETL", "#1", "--dry-run")
    assert plan.code == 0, plan.stderr
    assert plan.document["dry_run"] is True and plan.document["changed"] is False
    assert plan.document["plan"]["required_acknowledgements"] == ["data_loss"]

    refused = tarmac_json(cli_server, "rollback", "Sales ETL", "#1", "-d", "2 broke the load")
    assert refused.code == 1
    error = refused.document["error"]
    assert error["code"] == "acknowledgement_required"
    assert [w["code"] for w in error["warnings"]] == ["data_loss"]
    assert "--acknowledge data_loss" in error["hint"]
    assert "[y/N]" not in refused.stdout + refused.stderr
    assert history_seqs(cli_server, deployment_id) == [2, 1]

    done = tarmac_json(
        cli_server, "rollback", "Sales ETL", "1", "-d", "2 broke", "--acknowledge", "data_loss"
    )
    assert done.code == 0, done.stderr
    first = tarmac_json(cli_server, "deploys", "show", "Sales ETL", "#1").document
    assert done.document["seq"] == 3
    assert done.document["rolled_back_to"] == first["id"]
    assert done.document["rollback_from_id"] == first["id"]  # the old name stays
    assert history_seqs(cli_server, deployment_id) == [3, 2, 1]


def test_refusals_are_json_errors_that_name_what_was_wrong(cli_server: ServerProcess) -> None:
    two_deploys_and_a_downgrade(cli_server)

    def refusal(*args: str, token: str = ADMIN_TOKEN) -> dict[str, str]:
        run = tarmac_json(cli_server, *args, token=token)
        assert run.code != 0, run.stdout
        error: dict[str, str] = run.document["error"]
        assert error["code"] and error["message"]
        return error

    missing = refusal("deploys", "list", "Sales EL")
    assert missing["code"] == "not_found"
    assert "'Sales EL'" in missing["message"] and "did you mean 'Sales ETL'" in missing["message"]
    assert "tarmac deployment list" in missing["hint"]

    for ref in ("99", "abc", "0", "#7"):
        gone = refusal("deploys", "show", "Sales ETL", ref)
        assert gone["code"] == "not_found"
        assert repr(ref.removeprefix("#")) in gone["message"], gone
        assert "tarmac deploys list 'Sales ETL'" in gone["hint"]

    why = refusal("rollback", "Sales ETL", "1")
    assert why["code"] == "description_required"

    runtime = refusal("deploy", "Sales ETL", "--image", "i:3", "--runtime", "9.9.9")
    assert runtime["code"] == "unknown_runtime_version" and "'9.9.9'" in runtime["message"]
    assert "tarmac runtimes list" in runtime["hint"]

    create = refusal("deployment", "create", "x", "--runtime", "9.9.9")
    assert create["code"] == "unknown_runtime_version"
    assert "tarmac runtimes list" in create["hint"]

    unauthenticated = refusal("deployment", "list", token="wrong")
    assert unauthenticated["code"] == "unauthenticated"
    assert "tarmac login" in unauthenticated["hint"]

    image = refusal("deploy", "Sales ETL", "--image", "not an image!")
    assert image["code"] == "invalid_request" and image["field"] == "image"

    usage = refusal("deploy", "Sales ETL")
    assert usage["code"] == "invalid_request" and "--dags" in usage["message"]


def test_an_unreachable_server_is_a_json_error_too(cli_server: ServerProcess) -> None:
    cli_server.stop()
    run = tarmac_json(cli_server, "deployment", "list")
    assert run.code == 2
    assert run.document["error"]["code"] == "unreachable"


def test_a_wrong_command_line_is_a_json_error_too(cli_server: ServerProcess) -> None:
    for args in (("deploys", "show", "Sales ETL"), ("deployment", "create", "x")):
        run = tarmac_json(cli_server, *args)
        assert run.code == 2
        error = run.document["error"]
        assert error["code"] == "invalid_request" and "Missing" in error["message"]
