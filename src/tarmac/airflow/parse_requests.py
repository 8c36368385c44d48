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
    """Rows naming changed files of one bundle, written with Airflow's session."""

    def __init__(self, *, bundle_name: str) -> None:
        self.bundle_name = bundle_name

    def request(self, folder: Path, changed: Iterable[str]) -> list[str]:
        """Ask the DAG processor to parse ``changed`` next; best effort, never raises."""
        try:
            from airflow.configuration import conf
            from airflow.models.dagbag import DagPriorityParsingRequest
            from airflow.utils.session import create_session
            from sqlalchemy import select

            syntax: IgnoreSyntax = (
                "regexp"
                if conf.get("core", "dag_ignore_file_syntax", fallback="glob") == "regexp"
                else "glob"
            )
            wanted = [p for p in sorted(set(changed)) if airflow_lists(folder, p, syntax)]
            if not wanted:
                return []
            request = DagPriorityParsingRequest
            with create_session() as session:
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
