"""``--wait``'s decision, driven by scripted runtime reports (no server, no wall clock)."""

from __future__ import annotations

from typing import Any

from tarmac.cli.wait import WaitOutcome, wait_for_deploy

DEPLOY = {"id": "d5", "seq": 5, "type": "IMAGE_AND_DAG", "status": "DEPLOYED"}


def _runtime(state: str, reached: str | None = "d5", **fields: Any) -> dict[str, Any]:
    return {
        "reached_deploy_id": reached,
        "airflow_version": "3.1.8",
        "state": state,
        "components": fields.pop("components", [{"name": "scheduler", "healthy": True}]),
        "error": fields.pop("error", None),
        "reported_at": "2026-11-30T03:00:00Z",
        **fields,
    }


def _wait(
    runtimes: list[dict[str, Any] | None],
    deploys: list[dict[str, Any]] | None = None,
    timeout: float = 100,
) -> tuple[WaitOutcome, list[str], int]:
    """Run the wait over scripted reports; each poll takes 1 fake second."""
    said: list[str] = []
    now = [0.0]
    polls = [0]

    def read_runtime() -> dict[str, Any] | None:
        polls[0] += 1
        return runtimes[min(polls[0] - 1, len(runtimes) - 1)]

    def read_deploy() -> dict[str, Any]:
        script = deploys or [DEPLOY]
        return script[min(polls[0], len(script) - 1)]

    def sleep(seconds: float) -> None:
        now[0] += 1

    outcome = wait_for_deploy(
        deploy_id="d5",
        read_deploy=read_deploy,
        read_runtime=read_runtime,
        timeout_seconds=timeout,
        progress=said.append,
        clock=lambda: now[0],
        sleep=sleep,
    )
    return outcome, said, polls[0]


def test_success_only_once_the_new_deploy_runs_with_every_component_healthy() -> None:
    unhealthy = [{"name": "scheduler", "healthy": True}, {"name": "triggerer", "healthy": False}]
    outcome, said, polls = _wait(
        [
            _runtime("running", reached="d4"),
            _runtime("migrating", reached="d4"),
            _runtime("starting"),
            _runtime("running", components=unhealthy),
            _runtime("running"),
        ]
    )
    assert outcome.ok and "running, Airflow 3.1.8, all healthy" in outcome.message
    assert polls == 5
    assert said == [
        "runtime running, still on another deploy",
        "runtime migrating, still on another deploy",
        "runtime starting",
        "runtime running, unhealthy: triggerer",
    ]


def test_a_failed_deploy_fails_at_once_with_its_error() -> None:
    failed = {**DEPLOY, "status": "FAILED", "failure_reason": "airflow db migrate failed"}
    outcome, _, _ = _wait(
        [_runtime("failed", reached="d4", error="migrate failed; restored #4")],
        deploys=[DEPLOY, failed],
    )
    assert not outcome.ok
    assert outcome.message == "deploy #5 FAILED: airflow db migrate failed"


def test_a_failed_rollout_and_a_runtime_failure_on_the_deploy_fail() -> None:
    rolled = {**DEPLOY, "rollout": {"state": "failed", "error": "import errors in etl.py"}}
    outcome, _, _ = _wait([_runtime("starting")], deploys=[rolled])
    assert not outcome.ok and "import errors in etl.py" in outcome.message
    outcome, _, _ = _wait([_runtime("failed", error="webserver exited 1")])
    assert not outcome.ok and "webserver exited 1" in outcome.message


def test_timeout_names_what_was_still_wrong() -> None:
    sick = [{"name": "scheduler", "healthy": False}]
    outcome, _, polls = _wait([_runtime("running", components=sick)], timeout=10)
    assert not outcome.ok
    assert outcome.message.startswith("timed out after 10s waiting for deploy #5")
    assert "unhealthy: scheduler" in outcome.message
    assert polls == 11


def test_no_runtime_side_ever_reported_says_so_and_a_deployed_deploy_counts() -> None:
    dag_only = {**DEPLOY, "type": "DAG_ONLY"}
    never = {**_runtime("unknown", reached=None), "reported_at": None}
    for runtime in (never, None):
        outcome, _, _ = _wait([runtime], deploys=[dag_only])
        assert outcome.ok
        assert "DAG-only deploy #5 is DEPLOYED" in outcome.message
        assert "no runtime side has ever reported" in outcome.message
    pending = {**dag_only, "status": "INITIALIZED"}
    outcome, said, _ = _wait([None], deploys=[pending, pending, dag_only])
    assert outcome.ok and said == ["deploy #5 is INITIALIZED"]


def test_new_import_errors_on_the_runtime_fail_with_airflows_error() -> None:
    errors = [
        {"file": "old.py", "error": "SyntaxError: invalid syntax", "new": False},
        {
            "file": "ml.py",
            "error": "Traceback\nModuleNotFoundError: No module named 'x'",
            "new": True,
        },
    ]
    outcome, _, _ = _wait([_runtime("running", import_errors=errors)])
    assert not outcome.ok
    assert outcome.message == (
        "deploy #5 has new DAG import errors in Airflow 3.1.8:"
        " ml.py: ModuleNotFoundError: No module named 'x'"
    )
    # Errors the previous deploy had already are not this deploy's failure.
    outcome, _, _ = _wait([_runtime("running", import_errors=errors[:1])])
    assert outcome.ok


def test_a_deploy_marked_bad_meanwhile_fails_with_who_and_why() -> None:
    bad = {
        **DEPLOY,
        "marked_bad": {"by": "tarmac-auto-rollback", "reason": "1 new DAG import error(s)"},
    }
    outcome, _, _ = _wait([_runtime("running", reached="d6")], deploys=[DEPLOY, bad])
    assert not outcome.ok
    assert outcome.message == (
        "deploy #5 was marked bad by tarmac-auto-rollback: 1 new DAG import error(s)"
    )
