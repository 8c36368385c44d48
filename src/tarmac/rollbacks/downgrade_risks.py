"""Known ways Airflow's own metadata downgrade (or upgrade) fails or loses rows, from facts.

Pure: the facts (row counts per table, the database's dialect) come from the runtime
side's last report; the plan shows these risks, and the runtime side applies the repair
that a risk names before it runs ``airflow db downgrade``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tarmac.runtimes.versions import parse_airflow_version

MOVE_TIH_ASIDE = "move_task_instance_history_aside"
MOVE_RUNLESS_TIS_ASIDE = "move_task_instances_without_run_aside"


@dataclass(frozen=True)
class DowngradeRisk:
    code: str
    message: str
    rows: int
    repair: str | None


def crosses_3_0(from_airflow: str, to_airflow: str) -> bool:
    """Whether a downgrade goes from Airflow 3 to Airflow 2."""
    return parse_airflow_version(from_airflow) >= (3, 0, 0) > parse_airflow_version(to_airflow)


def downgrade_risks(
    facts: dict[str, Any], *, from_airflow: str, to_airflow: str
) -> list[DowngradeRisk]:
    """What a downgrade from ``from_airflow`` to ``to_airflow`` will trip on or move aside."""
    crosses_3 = parse_airflow_version(from_airflow) >= (3, 0, 0) > parse_airflow_version(to_airflow)
    if not crosses_3 or not facts:
        return []
    counts: dict[str, int] = facts.get("row_counts") or {}
    risks = []
    history = int(counts.get("task_instance_history", 0))
    if facts.get("dialect") == "sqlite" and history >= 2:
        risks.append(
            DowngradeRisk(
                code="task_instance_history_downgrade_fails",
                message=(
                    f"Airflow's own SQLite downgrade below 3.0 fails when task_instance_history "
                    f"holds 2 or more rows (its migration 'Change TI table to have unique UUID "
                    f"id/pk per attempt' numbers them all 0). tarmac first moves these "
                    f"{history} rows (earlier tries of cleared or retried tasks) aside into a "
                    f"table named _tarmac_moved__task_instance_history_…, where they are kept."
                ),
                rows=history,
                repair=MOVE_TIH_ASIDE,
            )
        )
    with_conf = int(facts.get("dag_runs_with_conf", 0))
    if with_conf:
        risks.append(
            DowngradeRisk(
                code="dag_run_conf_unreadable",
                message=(
                    f"Airflow's downgrade below 3.0 stores the conf of {with_conf} DAG runs in "
                    f"a shape Airflow 2's scheduler crashes on (the JSON text, pickled). tarmac "
                    f"re-pickles each as the dict it spells right after the downgrade."
                ),
                rows=with_conf,
                repair="repickle_dag_run_conf",
            )
        )
    moved = int(facts.get("dag_runs_without_logical_date", 0))
    if moved:
        risks.append(
            DowngradeRisk(
                code="dag_runs_moved_aside",
                message=(
                    f"{moved} DAG runs without a logical date (manual or asset-triggered runs "
                    f"of Airflow 3) are moved aside by Airflow into the table "
                    f"_airflow_moved__3_0_0__offending_dag_run: Airflow 2 does not show them, "
                    f"and rolling forward again does not bring them back."
                ),
                rows=moved,
                repair=None,
            )
        )
    left = int(facts.get("task_instances_of_runs_without_logical_date", 0))
    if left and facts.get("dialect") == "sqlite":
        risks.append(
            DowngradeRisk(
                code="task_instances_left_without_run",
                message=(
                    f"Airflow's SQLite downgrade leaves the {left} task instances of those runs "
                    f"in task_instance without their run: Airflow 2 shows none of them, and "
                    f"Airflow 3's own upgrade fails on two or more of them (UNIQUE constraint "
                    f"failed: _alembic_tmp_task_instance.id), so that no roll forward would "
                    f"pass. tarmac moves them aside right after the downgrade, into a table "
                    f"named _tarmac_moved__task_instance_…, where they are kept."
                ),
                rows=left,
                repair=MOVE_RUNLESS_TIS_ASIDE,
            )
        )
    elif left:
        risks.append(
            DowngradeRisk(
                code="task_instances_erased_with_runs",
                message=(
                    f"The {left} task instances of those runs are erased with them (the "
                    f"foreign key from task_instance to dag_run cascades on delete)."
                ),
                rows=left,
                repair=None,
            )
        )
    return risks


def upgrade_risks(
    facts: dict[str, Any], *, from_airflow: str, to_airflow: str
) -> list[DowngradeRisk]:
    """What Airflow's own upgrade from ``from_airflow`` to ``to_airflow`` loses (no repair)."""
    crosses_3 = parse_airflow_version(from_airflow) < (3, 0, 0) <= parse_airflow_version(to_airflow)
    counts: dict[str, int] = facts.get("row_counts") or {}
    rows = int(counts.get("task_instance", 0))
    if not crosses_3 or facts.get("dialect") != "sqlite" or not rows:
        return []
    return [
        DowngradeRisk(
            code="task_instances_erased_by_upgrade",
            message=(
                f"Airflow {to_airflow}'s own upgrade from Airflow 2 on SQLite leaves "
                f"task_instance empty: the {rows} task instances recorded now are not "
                f"carried over (the DAG runs are). tarmac does not repair this; the snapshot "
                f"it takes before the upgrade keeps them."
            ),
            rows=rows,
            repair=None,
        )
    ]
