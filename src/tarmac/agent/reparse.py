"""Ask Airflow 2.10+ to parse the changed DAG files next, not after its current cycle.

Touching a changed file (``freshness.py``) is enough only when Airflow 2's DAG file
processor manager has nothing queued: it looks at mtimes when it refills an *empty*
queue. Every ``min_file_process_interval`` it queues every file of the folder, and while
that cycle drains (files times parse time, divided by ``parsing_processes``; one file
per scheduler loop on SQLite) a touched file waits behind all of them. That was the
Airflow 2 worst case of the rollback benchmark: 25 s, the first cycle after start.

Each loop of the manager (Airflow ≥ 2.10, ``_refresh_requested_filelocs``) moves the
files named in its ``dag_priority_parsing_request`` table to the front of the queue: the
table behind Airflow's own ``PUT /api/v1/parseDagFile/{file_token}``. Given Airflow's
database (``--airflow-database-url``), the agent adds a row per changed DAG file after
each switch. Airflow 3's DAG processor reads the same table (rows name a bundle and a
path inside it: the agent's folder is the ``dags-folder`` bundle unless told otherwise).

Only files Airflow itself would list are requested (``.py`` or ``.zip``, not left out by
an ``.airflowignore``), under the path Airflow lists them by: the DAGs folder (the
agent's symlink, which ``[core] dags_folder`` must name) joined with the relative path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import MetaData, Table, create_engine, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from tarmac.bundles.airflowignore import IGNORE_FILE, IgnoreRules, IgnoreSyntax

log = logging.getLogger(__name__)

TABLE = "dag_priority_parsing_request"
DAG_FILE_SUFFIXES = (".py", ".zip")


class ReparseRequests:
    """Rows in Airflow 2.10+'s ``dag_priority_parsing_request``, one per changed file."""

    def __init__(
        self,
        *,
        database_url: str,
        dags_folder: Path,
        ignore_syntax: IgnoreSyntax | None = None,
        bundle_name: str = "dags-folder",
    ) -> None:
        self.dags_folder = dags_folder
        self.bundle_name = bundle_name
        self.ignore_syntax = ignore_syntax
        self._url = database_url
        self._engine: Engine | None = None

    def request(self, folder: Path, changed: Iterable[str]) -> list[str]:
        """Ask Airflow to parse ``changed`` (relative paths, read in ``folder``) next.

        Best effort: the switch stands whatever happens here (Airflow then notices the
        touched files when its queue empties). Returns the file locations requested.
        """
        try:
            if not self._database_exists():
                return []
            table = self._reflect()
            if table is None:
                return []
            # Airflow's default syntax: regexp up to 2.x, glob from 3.0.
            syntax = self.ignore_syntax or ("regexp" if "fileloc" in table.c else "glob")
            wanted = [p for p in sorted(set(changed)) if airflow_lists(folder, p, syntax)]
            if not wanted:
                return []
            rows = [self._row(table, rel_path) for rel_path in wanted]
            with self._connected().begin() as connection:
                pending = set(
                    connection.scalars(
                        select(table.c.id).where(table.c.id.in_([row["id"] for row in rows]))
                    )
                )
                fresh = [row for row in rows if row["id"] not in pending]
                if fresh:
                    connection.execute(table.insert(), fresh)
            return [str(self.dags_folder / p) for p in wanted]
        except ArgumentError:  # its text would carry the URL, password included
            log.warning("could not ask Airflow to parse changed files next: bad database URL")
            return []
        except (SQLAlchemyError, ImportError, OSError) as exc:
            log.warning("could not ask Airflow to parse changed files next: %s", exc)
            return []

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def _database_exists(self) -> bool:
        """A SQLite file that is not there yet is not created here (Airflow makes it)."""
        url = make_url(self._url)
        if url.get_backend_name() != "sqlite" or not url.database:
            return True
        return Path(url.database).is_file()

    def _connected(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(
                sqlalchemy_url(self._url), poolclass=NullPool, connect_args=_connect_args(self._url)
            )
        return self._engine

    def _reflect(self) -> Table | None:
        """The table as this Airflow has it, read at each switch: a runtime upgrade or the
        first ``airflow db migrate`` may change it between two switches."""
        try:
            table = Table(TABLE, MetaData(), autoload_with=self._connected())
        except NoSuchTableError:
            log.info("Airflow's database has no %s table (yet, or before 2.10)", TABLE)
            return None
        if "fileloc" not in table.c and "relative_fileloc" not in table.c:
            log.warning("Airflow's %s has columns this agent does not know", TABLE)
            return None
        return table

    def _row(self, table: Table, rel_path: str) -> dict[str, str]:
        """A request as Airflow writes it (its id is the md5 of what names the file)."""
        if "fileloc" in table.c:  # Airflow 2.10: the path Airflow lists the file by
            fileloc = str(self.dags_folder / rel_path)
            return {"id": _md5(fileloc), "fileloc": fileloc}
        return {  # Airflow 3: a path inside a bundle
            "id": _md5(f"{self.bundle_name}:{rel_path}"),
            "bundle_name": self.bundle_name,
            "relative_fileloc": rel_path,
        }


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def airflow_lists(folder: Path, rel_path: str, syntax: IgnoreSyntax) -> bool:
    """Whether Airflow's scan of ``folder`` finds ``rel_path`` as a DAG file."""
    if not rel_path.endswith(DAG_FILE_SUFFIXES) or not (folder / rel_path).is_file():
        return False
    parts = rel_path.split("/")
    rules = IgnoreRules(syntax)
    for depth in range(len(parts)):
        rel_dir = "/".join(parts[:depth])
        directory = folder / rel_dir if rel_dir else folder
        if (directory / IGNORE_FILE).is_file():
            rules = rules.with_file(directory / IGNORE_FILE, rel_dir=rel_dir)
        here = "/".join(parts[: depth + 1])
        if rules.ignores(here, is_dir=depth < len(parts) - 1):
            return False
    return True


def sqlalchemy_url(url: str) -> str:
    """Airflow's URL with a driver this environment has (psycopg 3 for PostgreSQL)."""
    if importlib.util.find_spec("psycopg2") is not None:
        return url
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _connect_args(url: str) -> dict[str, object]:
    # Airflow holds SQLite locks for moments: wait rather than fail the request.
    return {"timeout": 15} if url.startswith("sqlite") else {}


def ignore_syntax_from_env() -> IgnoreSyntax | None:
    """Airflow's ``[core] dag_ignore_file_syntax`` if set in the environment (else its default)."""
    value = os.environ.get("AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX", "").strip().lower()
    if value in ("glob", "regexp"):
        return "glob" if value == "glob" else "regexp"
    return None
