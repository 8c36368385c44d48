"""The repairs that ``rollbacks.downgrade_risks`` names, applied around a downgrade."""

from __future__ import annotations

import io
import json
import pickle
from typing import Any

from sqlalchemy import create_engine, inspect, text

from tarmac.db.base import utcnow
from tarmac.local_runtime.metadata_db import MetadataDatabase
from tarmac.rollbacks.downgrade_risks import MOVE_TIH_ASIDE, crosses_3_0, downgrade_risks


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


def repair_after_downgrade(
    database: MetadataDatabase, *, from_airflow: str, to_airflow: str
) -> list[str]:
    """Fix rows the downgrade left in a shape the older Airflow cannot read.

    Below 3.0, ``dag_run.conf`` is a pickled dict again, but the migration pickles the
    JSON *text* of each conf: Airflow 2's scheduler then dies on the run
    (``params.update(str)``). Each such conf is re-pickled as the dict it spells.

    The runs Airflow moved aside (no logical date) leave their task instances behind on
    SQLite, without a run; Airflow 3's own upgrade fails on two or more of them, so they
    are moved aside too.
    """
    if not crosses_3_0(from_airflow, to_airflow):
        return []
    engine = create_engine(database.url)
    fixed = 0
    done = []
    try:
        with engine.begin() as connection:
            runless = (
                "FROM task_instance WHERE NOT EXISTS (SELECT 1 FROM dag_run r"
                " WHERE r.dag_id = task_instance.dag_id AND r.run_id = task_instance.run_id)"
            )
            has_tis = "task_instance" in inspect(connection).get_table_names()
            left = (
                int(connection.execute(text(f"SELECT COUNT(*) {runless}")).scalar() or 0)
                if has_tis
                else 0
            )
            if left:
                table = f"_tarmac_moved__task_instance_{utcnow():%Y%m%d%H%M%S}"
                connection.execute(text(f'CREATE TABLE "{table}" AS SELECT * {runless}'))
                connection.execute(text(f"DELETE {runless}"))
                done.append(f"moved {left} task instances without a DAG run aside into {table}")
            rows = connection.execute(
                text("SELECT id, conf FROM dag_run WHERE conf IS NOT NULL")
            ).all()
            for run_id, raw in rows:
                value = _plain_unpickle(bytes(raw))
                if not isinstance(value, str):
                    continue
                try:
                    conf = json.loads(value)
                except ValueError:
                    conf = {}
                connection.execute(
                    text("UPDATE dag_run SET conf = :conf WHERE id = :id"),
                    {"conf": pickle.dumps(conf if isinstance(conf, dict) else {}), "id": run_id},
                )
                fixed += 1
    finally:
        engine.dispose()
    return done + ([f"re-pickled the conf of {fixed} DAG runs as dicts"] if fixed else [])


class _PlainUnpickler(pickle.Unpickler):
    """Loads only plain data (str, dict, list, numbers): never imports or calls anything."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _plain_unpickle(raw: bytes) -> object:
    try:
        return _PlainUnpickler(io.BytesIO(raw)).load()
    except Exception:
        return None
