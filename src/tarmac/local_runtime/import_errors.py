"""Which DAG files of the live folder fail to import, as Airflow itself recorded it.

Airflow writes a row into ``import_error`` for every DAG file it could not import (2.x:
the absolute path; 3.x: the path inside the DAG bundle) and a ``dag`` row with
``last_parsed_time`` for every DAG it parsed. After a switch of the DAGs the runtime side
waits, within a bound, until Airflow has parsed every DAG file of the new folder, so that
the first report of a deploy already says whether its DAGs import (``--wait`` and the
automatic rollback rely on it). Errors in files that did not fail before the switch are
"new".
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

MAX_ERRORS = 50
ERROR_CHARS = 1000


@dataclass(frozen=True)
class ImportErrors:
    """File (relative to the DAGs folder) → the last lines of Airflow's stack trace."""

    errors: dict[str, str]
    new: frozenset[str] = frozenset()

    def report(self) -> list[dict[str, object]]:
        return [
            {"file": path, "error": error, "new": path in self.new}
            for path, error in sorted(self.errors.items())[:MAX_ERRORS]
        ]

    def since(self, before: ImportErrors | None) -> ImportErrors:
        """These errors, the ones absent from ``before`` marked new."""
        known = set(before.errors) if before is not None else set()
        return ImportErrors(self.errors, frozenset(set(self.errors) - known))


def dag_files(folder: Path) -> list[str]:
    """The files of ``folder`` that define DAGs: they name airflow and call ``DAG(``/``@dag``.

    Airflow parses every file naming "airflow" and "dag"; a helper module among them
    records neither a DAG nor an error, so waiting for it would only run into the bound.
    """
    found = []
    root = folder.resolve() if folder.exists() else folder
    for directory, _dirs, files in os.walk(root, followlinks=True):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = Path(directory) / name
            with contextlib.suppress(OSError):
                content = path.read_bytes().lower()
                if b"airflow" in content and (b"dag(" in content or b"@dag" in content):
                    found.append(str(path.relative_to(root)))
    return sorted(found)


def read_import_errors(database_url: str, folder: Path) -> ImportErrors:
    """Airflow's recorded import errors of the files now in ``folder`` (cheap: no walk)."""
    rows = _rows(database_url, "SELECT filename, stacktrace FROM import_error")
    errors: dict[str, str] = {}
    for filename, stacktrace in rows:
        relative = _relative(str(filename), folder, None)
        if relative is not None:
            errors[relative] = _last_lines(str(stacktrace or ""))
    return ImportErrors(errors)


def wait_for_parse(
    database_url: str, folder: Path, *, since: datetime, timeout_seconds: float
) -> bool:
    """Until every DAG file of ``folder`` was parsed (a DAG or an error) after ``since``."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if not _unparsed(database_url, folder, since):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(2)


def _unparsed(database_url: str, folder: Path, since: datetime) -> set[str]:
    files = set(dag_files(folder))
    parsed: set[str] = set()
    for location, moment in [
        *_rows(database_url, "SELECT fileloc, last_parsed_time FROM dag"),
        *_rows(database_url, "SELECT filename, timestamp FROM import_error"),
    ]:
        relative = _relative(str(location), folder, files)
        if relative is not None and moment is not None and _as_utc(moment) >= since:
            parsed.add(relative)
    return files - parsed


def _relative(filename: str, folder: Path, files: set[str] | None) -> str | None:
    """``filename`` relative to ``folder`` if it is one of its files (``files``, else on disk)."""

    def live(relative: str) -> bool:
        return relative in files if files is not None else (folder / relative).is_file()

    if not filename.startswith("/"):  # Airflow 3: the path inside the bundle
        return filename if live(filename) else None
    for root in {str(folder), str(folder.resolve()) if folder.exists() else str(folder)}:
        if filename.startswith(root.rstrip("/") + "/"):
            relative = filename[len(root.rstrip("/")) + 1 :]
            return relative if live(relative) else None
    return None


def _rows(database_url: str, sql: str) -> list[tuple[object, object]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [(row[0], row[1]) for row in connection.execute(text(sql))]
    except Exception:  # a fresh database without Airflow's tables, or locked: nothing known
        return []
    finally:
        engine.dispose()


def _last_lines(stacktrace: str) -> str:
    lines = [line for line in stacktrace.strip().splitlines() if line.strip()]
    return "\n".join(lines[-3:])[-ERROR_CHARS:]


def _as_utc(value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:  # SQLite returns text
        moment = datetime.fromisoformat(str(value).replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
