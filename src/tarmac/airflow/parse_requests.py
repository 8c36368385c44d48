"""The DAG bundle's parse requests: Airflow 3's ``dag_priority_parsing_request``, by its ORM.

The same reason as the agent's (``tarmac.agent.reparse``): a touched file waits behind
every file Airflow already queued, unless it is named in that table, whose files Airflow
3's DAG processor moves to the front of its queue at each loop. The bundle runs inside
the DAG processor, so it writes through Airflow's own session and model: no URL, no
driver, and the id Airflow computes. Imported only inside Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from tarmac.agent.reparse import airflow_lists
from tarmac.bundles.airflowignore import IgnoreSyntax

log = logging.getLogger(__name__)


class BundleParseRequests:
    """Rows naming changed files of one bundle, written with Airflow's session.

    The bundle's watcher asks ahead, before ``refresh()`` switches (``request_ahead``):
    Airflow 3's DAG processor refreshes a bundle in the same loop in which it finds a
    request for one of its files, then parses the requested files first. The switch's own
    request then leaves out what was asked ahead, so nothing is parsed twice.
    """

    def __init__(self, *, bundle_name: str) -> None:
        self.bundle_name = bundle_name
        self._ahead: dict[str, set[str]] = {}

    def request_ahead(self, folder: Path, changed: list[str], *, others: list[str]) -> list[str]:
        """Before the switch to ``folder``: ask for ``changed``, or, if none is a DAG file,
        for the first of ``others`` that is (the refresh still removes deleted DAGs)."""
        wanted = self._listed(folder, changed) or self._listed(folder, others, limit=1)
        requested = self._write(wanted)
        self._ahead = {folder.name: set(requested)}
        return requested

    def request(self, folder: Path, changed: Iterable[str]) -> list[str]:
        """Ask the DAG processor to parse ``changed`` next; best effort, never raises."""
        ahead = self._ahead.pop(folder.name, set())
        self._ahead.clear()
        return self._write([p for p in self._listed(folder, changed) if p not in ahead])

    def _listed(self, folder: Path, paths: Iterable[str], *, limit: int | None = None) -> list[str]:
        """The files among ``paths`` that Airflow's DAG processor would list, sorted;
        the first ``limit`` of them (each costs a few file system calls)."""
        try:
            from airflow.configuration import conf

            syntax: IgnoreSyntax = (
                "regexp"
                if conf.get("core", "dag_ignore_file_syntax", fallback="glob") == "regexp"
                else "glob"
            )
            found: list[str] = []
            for path in sorted(set(paths)):
                if airflow_lists(folder, path, syntax):
                    found.append(path)
                    if limit is not None and len(found) >= limit:
                        break
            return found
        except Exception as exc:  # the switch stands; Airflow notices the touch later
            log.warning("could not tell which changed files Airflow lists: %s", exc)
            return []

    def _write(self, wanted: list[str]) -> list[str]:
        if not wanted:
            return []
        try:
            from airflow.models.dagbag import DagPriorityParsingRequest
            from airflow.utils.session import create_session
            from sqlalchemy import select

            request = DagPriorityParsingRequest
            # A session of our own: refresh() runs inside the DAG processor's scoped
            # session, which a plain create_session() would commit and close under it.
            # The processor then lost its record of the bundle's version and refreshed
            # the bundle at every check, whatever its refresh_interval.
            with create_session(scoped=False) as session:
                pending = set(
                    session.scalars(
                        select(request.relative_fileloc).where(
                            request.bundle_name == self.bundle_name,
                            request.relative_fileloc.in_(wanted),
                        )
                    )
                )
                name = self.bundle_name
                for rel_path in wanted:
                    if rel_path not in pending:
                        session.add(request(bundle_name=name, relative_fileloc=rel_path))
            return wanted
        except Exception as exc:  # the switch stands; Airflow notices the touch later
            log.warning("could not ask Airflow to parse changed files next: %s", exc)
            return []
