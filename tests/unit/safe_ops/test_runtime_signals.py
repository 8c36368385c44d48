"""Which runtime reports are a deploy failing its health (the automatic rollback's input)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tarmac.rollouts.schemas import RuntimeReport
from tarmac.safe_ops.runtime_signals import FailureSignal, failure_signal


def _report(**fields: Any) -> RuntimeReport:
    return RuntimeReport.model_validate(fields)


def _error(name: str, *, new: bool = True) -> dict[str, Any]:
    return {"file": name, "error": f"Traceback\n  ...\nImportError: {name} broke", "new": new}


def test_a_failed_rollout_names_its_deploy_and_error() -> None:
    signal = failure_signal(_report(state="failed", rollout_deploy_id="d2", error="migrate failed"))
    assert signal == FailureSignal("d2", "migrate failed")
    no_error = failure_signal(_report(state="failed", rollout_deploy_id="d2"))
    assert no_error == FailureSignal("d2", "its runtime rollout failed")


def test_new_import_errors_of_the_reached_deploy_are_a_signal_old_ones_are_not() -> None:
    signal = failure_signal(
        _report(
            state="running",
            reached_deploy_id="d2",
            airflow_version="2.10.5",
            import_errors=[_error("a.py"), _error("old.py", new=False)],
        )
    )
    assert signal == FailureSignal(
        "d2", "1 new DAG import error(s) in Airflow 2.10.5: a.py: ImportError: a.py broke", True
    )
    only_old = _report(
        state="running", reached_deploy_id="d2", import_errors=[_error("o.py", new=False)]
    )
    assert failure_signal(only_old) is None
    assert failure_signal(_report(state="running", reached_deploy_id="d2")) is None
    # While a rollout is under way, errors of the folder are not yet the new deploy's.
    assert failure_signal(_report(state="starting", import_errors=[_error("a.py")])) is None


def test_many_new_errors_are_summed_up() -> None:
    errors = [_error(f"f{i}.py") for i in range(8)]
    signal = failure_signal(_report(state="running", reached_deploy_id="d2", import_errors=errors))
    assert signal is not None
    assert signal.reason.startswith("8 new DAG import error(s): f0.py")
    assert signal.reason.endswith("(and 3 more)")


def test_unhealthy_components_are_a_signal_only_past_the_grace() -> None:
    since = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    sick = _report(
        state="running",
        reached_deploy_id="d2",
        components=[{"name": "scheduler", "healthy": False}, {"name": "api", "healthy": True}],
    )
    assert failure_signal(sick, unhealthy_since=since, now=since + timedelta(seconds=119)) is None
    signal = failure_signal(sick, unhealthy_since=since, now=since + timedelta(seconds=150))
    assert signal == FailureSignal(
        "d2", "components unhealthy for 150 s (since 03:00:00 UTC): scheduler"
    )
    assert failure_signal(sick) is None  # no clock: nothing known about how long
