"""What a rollback does to Airflow's DAGs: which appear or disappear, and runs in flight.

Pure: from the DAG ids each deploy defines (found by the import gate, ``None`` when a
deploy was never checked) and the DAG files that change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tarmac.bundles.manifest import ManifestDiff
from tarmac.runtimes.versions import parse_airflow_version


@dataclass(frozen=True)
class DagChanges:
    """DAG ids the rollback adds to Airflow and removes from it; unknown if not checked."""

    known: bool
    appear: tuple[str, ...] = ()
    disappear: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"known": self.known, "appear": list(self.appear), "disappear": list(self.disappear)}


def dag_changes(*, live: Mapping[str, str] | None, target: Mapping[str, str] | None) -> DagChanges:
    if live is None or target is None:
        return DagChanges(known=False)
    return DagChanges(
        known=True,
        appear=tuple(sorted(set(target) - set(live))),
        disappear=tuple(sorted(set(live) - set(target))),
    )


def affected_dags(*, live: Mapping[str, str] | None, files: ManifestDiff) -> tuple[str, ...]:
    """Live DAGs whose file the rollback changes or removes (their running runs are hit)."""
    if live is None:
        return ()
    touched = set(files.changed) | set(files.removed)
    return tuple(sorted(dag for dag, path in live.items() if path in touched))


def runs_in_flight_message(*, live_airflow: str, target_seq: int, dags: tuple[str, ...]) -> str:
    """What happens to DAG runs in progress: honest per Airflow major version."""
    named = f" Affected DAGs: {', '.join(dags)}." if dags else ""
    if parse_airflow_version(live_airflow) < (3, 0, 0):
        return (
            f"Airflow {live_airflow} has no DAG bundle versioning: DAG runs in progress continue"
            f" on the rolled-back code; their remaining tasks run deploy #{target_seq}'s DAG"
            f" files, so one run may mix both versions.{named}"
        )
    return (
        f"On Airflow {live_airflow} with tarmac's DAG bundle, DAG runs in progress finish on the"
        f" version they started with; new runs use deploy #{target_seq}'s code. (Components"
        f" fed by the sync agent's folder instead run remaining tasks on the rolled-back"
        f" code.){named}"
    )
