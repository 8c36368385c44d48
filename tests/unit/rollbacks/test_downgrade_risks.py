"""Known failures of Airflow's own downgrade, predicted from the runtime side's facts."""

from __future__ import annotations

from tarmac.rollbacks.downgrade_risks import (
    MOVE_RUNLESS_TIS_ASIDE,
    MOVE_TIH_ASIDE,
    downgrade_risks,
    upgrade_risks,
)

FACTS = {
    "dialect": "sqlite",
    "row_counts": {"task_instance_history": 2, "dag_run": 5},
    "dag_runs_without_logical_date": 1,
}


def test_sqlite_history_rows_are_moved_aside_and_manual_runs_named_below_3() -> None:
    risks = {r.code: r for r in downgrade_risks(FACTS, from_airflow="3.1.8", to_airflow="2.10.5")}
    assert risks["task_instance_history_downgrade_fails"].repair == MOVE_TIH_ASIDE
    assert risks["task_instance_history_downgrade_fails"].rows == 2
    assert risks["dag_runs_moved_aside"].rows == 1
    assert risks["dag_runs_moved_aside"].repair is None


def test_nothing_is_predicted_within_one_major_or_without_facts() -> None:
    assert downgrade_risks(FACTS, from_airflow="3.1.8", to_airflow="3.0.6") == []
    assert downgrade_risks(FACTS, from_airflow="2.10.5", to_airflow="2.9.3") == []
    assert downgrade_risks({}, from_airflow="3.1.8", to_airflow="2.10.5") == []


def test_one_history_row_or_postgresql_downgrades_as_is() -> None:
    one = {**FACTS, "row_counts": {"task_instance_history": 1}, "dag_runs_without_logical_date": 0}
    assert downgrade_risks(one, from_airflow="3.1.8", to_airflow="2.10.5") == []
    postgres = {**FACTS, "dialect": "postgresql", "dag_runs_without_logical_date": 0}
    assert downgrade_risks(postgres, from_airflow="3.1.8", to_airflow="2.10.5") == []


def test_dag_run_confs_written_by_airflow_3_are_repickled_after_the_downgrade() -> None:
    facts = {"dialect": "postgresql", "row_counts": {}, "dag_runs_with_conf": 4}
    risks = downgrade_risks(facts, from_airflow="3.0.6", to_airflow="2.10.5")
    assert [(r.code, r.rows, r.repair) for r in risks] == [
        ("dag_run_conf_unreadable", 4, "repickle_dag_run_conf")
    ]


def test_task_instances_of_runs_moved_aside_are_named_and_moved_aside_on_sqlite() -> None:
    facts = {**FACTS, "task_instances_of_runs_without_logical_date": 3}
    risks = {r.code: r for r in downgrade_risks(facts, from_airflow="3.1.8", to_airflow="2.10.5")}
    left = risks["task_instances_left_without_run"]
    assert (left.rows, left.repair) == (3, MOVE_RUNLESS_TIS_ASIDE)
    assert "_tarmac_moved__task_instance_" in left.message

    on_postgres = {**facts, "dialect": "postgresql"}
    risks = downgrade_risks(on_postgres, from_airflow="3.1.8", to_airflow="2.10.5")
    codes = [r.code for r in risks]
    assert "task_instances_erased_with_runs" in codes
    assert "task_instances_left_without_run" not in codes


def test_an_upgrade_to_3_on_sqlite_names_the_task_instances_it_does_not_keep() -> None:
    facts = {"dialect": "sqlite", "row_counts": {"task_instance": 7}}
    (risk,) = upgrade_risks(facts, from_airflow="2.10.5", to_airflow="3.1.8")
    assert (risk.code, risk.rows, risk.repair) == ("task_instances_erased_by_upgrade", 7, None)
    assert upgrade_risks(facts, from_airflow="3.0.6", to_airflow="3.1.8") == []
    assert upgrade_risks(facts, from_airflow="3.1.8", to_airflow="2.10.5") == []
    postgres = {**facts, "dialect": "postgresql"}
    assert upgrade_risks(postgres, from_airflow="2.10.5", to_airflow="3.1.8") == []
    assert upgrade_risks({}, from_airflow="2.10.5", to_airflow="3.1.8") == []
