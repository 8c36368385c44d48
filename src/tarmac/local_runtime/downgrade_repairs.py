"""The repairs that ``rollbacks.downgrade_risks`` names, applied just before a downgrade."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from tarmac.db.base import utcnow
from tarmac.local_runtime.metadata_db import MetadataDatabase
from tarmac.rollbacks.downgrade_risks import MOVE_TIH_ASIDE, downgrade_risks


def apply_repairs(database: MetadataDatabase, *, from_airflow: str, to_airflow: str) -> list[str]:
    """Apply each predicted repair; returns what was done, in words."""
    done = []
    for risk in downgrade_risks(database.facts(), from_airflow=from_airflow, to_airflow=to_airflow):
        if risk.repair == MOVE_TIH_ASIDE:
            table = f"_tarmac_moved__task_instance_history_{utcnow():%Y%m%d%H%M%S}"
            engine = create_engine(database.url)
            try:
                with engine.begin() as connection:
                    connection.execute(
                        text(f'CREATE TABLE "{table}" AS SELECT * FROM task_instance_history')
                    )
                    connection.execute(text("DELETE FROM task_instance_history"))
            finally:
                engine.dispose()
            done.append(f"moved {risk.rows} task_instance_history rows aside into {table}")
    return done
