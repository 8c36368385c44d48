"""A real Airflow DAG processor in a subprocess, and what its database says it parsed.

Used by the Airflow tests and by bench/airflow_rollback_latency.py. The processor runs
in a prebuilt Airflow venv with its own AIRFLOW_HOME and SQLite database; this
checkout's ``src`` is on its PYTHONPATH so Airflow 3 can load ``TarmacDagBundle``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

FAST_PARSING = {
    # What docs/agent.md recommends beside tarmac: notice a new file within seconds.
    "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",  # Airflow 2: list the folder often
    "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",  # Airflow 3
    # Else a changed DAG parsed within 30 s of its last write is dropped, not stored.
    "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
    # Far longer than any wait here: a file is re-parsed early only if its mtime moved
    # (file_parsing_sort_mode = modified_time, the default), which is what is under test.
    "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dag_source(dag_id: str, marker: str) -> str:
    """A DAG whose serialized form carries ``marker`` (its description): which code it is."""
    return (
        "from datetime import datetime\n"
        "from airflow import DAG\n"
        f"with DAG(dag_id={dag_id!r}, description={marker!r},"
        " start_date=datetime(2024, 1, 1), schedule=None):\n"
        "    pass\n"
    )


class DagProcessor:
    """Airflow's DAG parsing: ``airflow dag-processor`` on 3.x, ``airflow scheduler`` on 2.x.

    (Airflow 2 refuses a standalone DAG processor on SQLite; its scheduler runs the same
    DAG file processor manager in a child process.)
    """

    def __init__(
        self,
        *,
        venv: Path,
        home: Path,
        env: dict[str, str] | None = None,
        command: str = "dag-processor",
    ) -> None:
        self.command = command
        self.python = venv / "bin" / "python"
        self.home = home
        self.database = home / "airflow.db"
        self.log_path = home / f"{command}.log"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.database}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "dag_bundles"),
            "PYTHONPATH": str(ROOT / "src"),
            # Airflow 2's scheduler serves task logs on 8793 by default: take a free port.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            **FAST_PARSING,
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def migrate(self) -> None:
        result = subprocess.run(
            [str(self.python), "-m", "airflow", "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.python), "-m", "airflow", self.command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def description(self, dag_id: str) -> str | None:
        """The description in the newest serialized DAG ``dag_id`` (None if not there)."""
        data = self._serialized(dag_id)
        if data is None:
            return None
        dag = data.get("dag", {})
        return dag.get("description", dag.get("_description"))  # Airflow 2 says _description

    def serialized_dag_ids(self) -> set[str]:
        """DAGs the processor serialized that Airflow still counts as present."""
        columns = {row[1] for row in self._rows("PRAGMA table_info(dag)")}
        stale = "is_stale" if "is_stale" in columns else "NOT is_active"
        rows = self._rows(
            f"SELECT s.dag_id FROM serialized_dag s JOIN dag d ON d.dag_id = s.dag_id"
            f" WHERE NOT ({stale})"
        )
        return {str(row[0]) for row in rows}

    def bundle_version(self, bundle_name: str) -> str | None:
        """The version Airflow 3 records as its DAG bundle's newest (``dag_bundle.version``)."""
        rows = self._rows("SELECT version FROM dag_bundle WHERE name = ?", (bundle_name,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def parsed_since(self, since: datetime) -> set[str]:
        """DAGs whose file Airflow parsed after ``since`` (UTC): ``dag.last_parsed_time``."""
        stamp = since.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        rows = self._rows("SELECT dag_id FROM dag WHERE last_parsed_time > ?", (stamp,))
        return {str(row[0]) for row in rows}

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Rows of a read-only query on Airflow's database; none while it is not readable."""
        try:
            with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10) as db:
                return db.execute(sql, params).fetchall()
        except sqlite3.Error:
            return []

    def _serialized(self, dag_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT data FROM serialized_dag WHERE dag_id = ? ORDER BY last_updated DESC LIMIT 1",
            (dag_id,),
        )
        if not rows or rows[0][0] is None:
            return None
        data = rows[0][0]
        return json.loads(data) if isinstance(data, str | bytes) else dict(data)
