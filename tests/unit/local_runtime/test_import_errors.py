"""Reading Airflow's import errors of the live DAG folder, Airflow 2 and 3 path styles.

The real Airflows write these rows in tests/airflow/test_safe_ops_runtime.py; here the two
tables hold only the columns read, to cover both path styles and the parse wait's rule.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tarmac.local_runtime.import_errors import (
    ImportErrors,
    dag_files,
    read_import_errors,
    wait_for_parse,
)

DAG = "from airflow import DAG\nwith DAG('etl'):\n    pass\n"


def _setup(tmp_path: Path) -> tuple[str, Path, sqlite3.Connection]:
    bundle = tmp_path / "bundles" / "abc"
    (bundle / "sub").mkdir(parents=True)
    (bundle / "etl.py").write_text(DAG)
    (bundle / "sub" / "ml.py").write_text("import nope\n" + DAG)
    (bundle / "helpers.py").write_text("# used by airflow dags\nX = 1\n")
    (bundle / "README.md").write_text("DAG( airflow")
    link = tmp_path / "dags"
    link.symlink_to(bundle)
    path = tmp_path / "airflow.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE dag (fileloc TEXT, last_parsed_time TEXT)")
    db.execute("CREATE TABLE import_error (filename TEXT, stacktrace TEXT, timestamp TEXT)")
    return f"sqlite:///{path}", link, db


def test_the_dag_files_are_those_defining_dags(tmp_path: Path) -> None:
    _url, link, _db = _setup(tmp_path)
    assert dag_files(link) == ["etl.py", "sub/ml.py"]


def test_errors_of_airflow_2_absolute_and_airflow_3_bundle_paths(tmp_path: Path) -> None:
    url, link, db = _setup(tmp_path)
    trace = "Traceback (most recent call last):\n  File x\nModuleNotFoundError: No module 'nope'\n"
    db.execute("INSERT INTO import_error VALUES (?, ?, '2026-01-01')", (f"{link}/sub/ml.py", trace))
    db.execute("INSERT INTO import_error VALUES ('/elsewhere/etl.py', 'x', '2026-01-01')")
    db.commit()
    assert read_import_errors(url, link).errors == {
        "sub/ml.py": "Traceback (most recent call last):\n  File x\n"
        "ModuleNotFoundError: No module 'nope'"
    }
    db.execute("DELETE FROM import_error")
    db.execute("INSERT INTO import_error VALUES ('sub/ml.py', ?, '2026-01-01')", (trace,))
    db.execute("INSERT INTO import_error VALUES ('gone.py', 'x', '2026-01-01')")  # not live
    db.commit()
    assert list(read_import_errors(url, link).errors) == ["sub/ml.py"]
    # Without Airflow's tables (a fresh database) nothing is known, nothing is invented.
    assert read_import_errors(f"sqlite:///{tmp_path / 'empty.db'}", link).errors == {}


def test_new_errors_are_those_the_folder_before_did_not_have() -> None:
    before = ImportErrors({"old.py": "SyntaxError"})
    after = ImportErrors({"old.py": "SyntaxError", "ml.py": "ImportError"}).since(before)
    assert after.new == {"ml.py"}
    assert after.report() == [
        {"file": "ml.py", "error": "ImportError", "new": True},
        {"file": "old.py", "error": "SyntaxError", "new": False},
    ]
    assert ImportErrors({"a.py": "x"}).since(None).new == {"a.py"}


def test_the_parse_wait_needs_every_dag_file_parsed_since_the_switch(tmp_path: Path) -> None:
    url, link, db = _setup(tmp_path)
    switched = datetime.now(UTC)
    earlier = (switched - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    later = (switched + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    db.execute("INSERT INTO dag VALUES (?, ?)", (f"{link.resolve()}/etl.py", later))
    db.execute("INSERT INTO import_error VALUES ('sub/ml.py', 'x', ?)", (earlier,))
    db.commit()
    assert not wait_for_parse(url, link, since=switched, timeout_seconds=0)
    db.execute("UPDATE import_error SET timestamp = ?", (later,))
    db.commit()
    assert wait_for_parse(url, link, since=switched, timeout_seconds=0)
