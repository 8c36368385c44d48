"""The repairs around a downgrade, on a real SQLite database shaped as Airflow leaves it."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

from tarmac.local_runtime.downgrade_repairs import apply_repairs, repair_after_downgrade
from tarmac.local_runtime.metadata_db import MetadataDatabase


def _database(tmp_path: Path) -> MetadataDatabase:
    path = tmp_path / "airflow.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id TEXT, run_id TEXT, conf BLOB,"
            " logical_date TEXT)"
        )
        db.execute("CREATE TABLE task_instance (dag_id TEXT, run_id TEXT, task_id TEXT)")
        db.execute("CREATE TABLE task_instance_history (id TEXT, try_number INT)")
        db.executemany(
            "INSERT INTO dag_run (id, dag_id, run_id, conf) VALUES (?, 'd', ?, ?)",
            [
                (1, "r1", None),
                (2, "r2", pickle.dumps('{"region": "eu"}')),  # what Airflow's downgrade writes
                (3, "r3", pickle.dumps({"kept": True})),
                (4, "r4", b"not a pickle"),
            ],
        )
        db.executemany(
            "INSERT INTO task_instance VALUES ('d', ?, 't')", [("r1",), ("r2",), ("r3",), ("r4",)]
        )
        db.executemany("INSERT INTO task_instance_history VALUES (?, ?)", [("a", 1), ("b", 2)])
    return MetadataDatabase(f"sqlite:///{path}", snapshots_dir=tmp_path / "snapshots")


def test_confs_pickled_as_json_text_become_dicts_and_others_stay(tmp_path: Path) -> None:
    database = _database(tmp_path)
    done = repair_after_downgrade(database, from_airflow="3.1.8", to_airflow="2.10.5")
    assert done == ["re-pickled the conf of 1 DAG runs as dicts"]
    with sqlite3.connect(database.sqlite_path) as db:
        rows = dict(db.execute("SELECT id, conf FROM dag_run").fetchall())
    assert pickle.loads(rows[2]) == {"region": "eu"}
    assert pickle.loads(rows[3]) == {"kept": True}
    assert rows[4] == b"not a pickle"
    assert repair_after_downgrade(database, from_airflow="3.1.8", to_airflow="3.0.6") == []


def test_task_instances_left_without_their_run_are_moved_aside(tmp_path: Path) -> None:
    """What Airflow's SQLite downgrade leaves of the runs it moved aside (no logical date)."""
    database = _database(tmp_path)
    with sqlite3.connect(database.sqlite_path) as db:
        db.executemany(
            "INSERT INTO task_instance VALUES ('d', ?, 't')", [("manual__1",), ("asset__2",)]
        )
    done = repair_after_downgrade(database, from_airflow="3.1.8", to_airflow="2.10.5")
    assert done[0].startswith("moved 2 task instances without a DAG run aside into ")
    with sqlite3.connect(database.sqlite_path) as db:
        kept = db.execute("SELECT run_id FROM task_instance ORDER BY run_id").fetchall()
        assert kept == [("r1",), ("r2",), ("r3",), ("r4",)]
        (moved,) = db.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '_tarmac_moved__task_instance_%'"
        ).fetchone()
        assert db.execute(f'SELECT run_id FROM "{moved}" ORDER BY run_id').fetchall() == [
            ("asset__2",),
            ("manual__1",),
        ]


def test_history_rows_are_moved_aside_before_a_downgrade_below_3_on_sqlite(tmp_path: Path) -> None:
    database = _database(tmp_path)
    done = apply_repairs(database, from_airflow="3.1.8", to_airflow="2.10.5")
    assert len(done) == 1 and done[0].startswith("moved 2 task_instance_history rows aside")
    with sqlite3.connect(database.sqlite_path) as db:
        assert db.execute("SELECT COUNT(*) FROM task_instance_history").fetchone() == (0,)
        (moved,) = db.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '_tarmac_moved__%'"
        ).fetchone()
        assert db.execute(f'SELECT COUNT(*) FROM "{moved}"').fetchone() == (2,)


def test_a_snapshot_is_a_consistent_copy_that_restores_in_place(tmp_path: Path) -> None:
    database = _database(tmp_path)
    snapshot = database.snapshot(airflow_version="3.1.8")
    with sqlite3.connect(database.sqlite_path) as db:
        db.execute("DELETE FROM dag_run")
    database.restore(snapshot.location)
    with sqlite3.connect(database.sqlite_path) as db:
        assert db.execute("SELECT COUNT(*) FROM dag_run").fetchone() == (4,)
    assert snapshot.size_bytes > 0
