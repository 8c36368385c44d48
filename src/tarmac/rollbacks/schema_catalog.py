"""What an Airflow downgrade erases from the metadata database, from a shipped schema catalog.

``data/airflow_schemas.json`` holds, per Airflow minor version, every metadata table and its
columns as ``airflow db migrate`` creates them on SQLite (regenerate it with
``scripts/generate_airflow_schema_catalog.py``; see ``docs/airflow-schema-catalog.md``).
A version that is not catalogued is read as the nearest catalogued minor at or below it
(``2.11.0`` as ``2.10``, ``3.3.0`` as ``3.1``); versions below the oldest one are refused.

A table Airflow renamed is not lost: its downgrade renames it back and keeps the rows
(``_RENAMES``, checked against a real 3.1.8 → 2.10.5 downgrade in
tests/airflow/test_runtime_rollback.py); only the columns the older table lacks are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_CATALOG_FILE = "data/airflow_schemas.json"
_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)")

Minor = tuple[int, int]
Schema = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class LostTable:
    """A table the downgrade drops, with the columns (and so the data) it held."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class LostColumn:
    """A column the downgrade drops from a table that survives it."""

    table: str
    column: str


@dataclass(frozen=True)
class RenamedTable:
    """A table the downgrade renames back to its older name, rows and all."""

    name: str
    renamed_to: str


@dataclass(frozen=True)
class SchemaLoss:
    """Everything a downgrade drops; both empty when nothing is lost."""

    tables: tuple[LostTable, ...]
    columns: tuple[LostColumn, ...]
    renamed: tuple[RenamedTable, ...] = ()


# Tables renamed in a minor (newer name -> older name), whose downgrade renames them back:
# Airflow 3.0's migration "Rename dataset as asset" (revision 05234396c6fc).
_RENAMES: dict[Minor, dict[str, str]] = {
    (3, 0): {
        "asset": "dataset",
        "asset_alias": "dataset_alias",
        "asset_alias_asset": "dataset_alias_dataset",
        "asset_alias_asset_event": "dataset_alias_dataset_event",
        "asset_dag_run_queue": "dataset_dag_run_queue",
        "asset_event": "dataset_event",
        "dag_schedule_asset_alias_reference": "dag_schedule_dataset_alias_reference",
        "dag_schedule_asset_reference": "dag_schedule_dataset_reference",
        "dagrun_asset_event": "dagrun_dataset_event",
        "task_outlet_asset_reference": "task_outlet_dataset_reference",
    }
}
# Columns of those tables renamed with them (newer name -> older name).
_RENAMED_COLUMNS: dict[Minor, dict[str, str]] = {(3, 0): {"asset_id": "dataset_id"}}


@cache
def _catalog() -> dict[Minor, Schema]:
    """The catalog file, parsed once: catalogued minor -> table -> columns."""
    text = resources.files("tarmac.rollbacks").joinpath(_CATALOG_FILE).read_text(encoding="utf-8")
    versions: dict[str, dict[str, dict[str, list[str]]]] = json.loads(text)["versions"]
    return {
        _parse_minor(minor): {table: tuple(cols) for table, cols in entry["tables"].items()}
        for minor, entry in versions.items()
    }


def _parse_minor(version: str) -> Minor:
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"not an Airflow version: {version!r} (expected e.g. '2.10.5')")
    return int(match[1]), int(match[2])


def _catalogued_minor(airflow_version: str) -> Minor:
    """The catalogued minor ``airflow_version`` is read as: its own, or the nearest below."""
    wanted = _parse_minor(airflow_version)
    at_or_below = [minor for minor in _catalog() if minor <= wanted]
    if not at_or_below:
        oldest = ".".join(map(str, min(_catalog())))
        raise ValueError(
            f"Airflow {airflow_version} is older than the schema catalog covers "
            f"(oldest: {oldest}); cannot tell what a downgrade would erase"
        )
    return max(at_or_below)


def catalogued_minors() -> list[str]:
    """The Airflow minors the catalog has schemas for, oldest first (e.g. ``["2.3", ...]``)."""
    return [f"{major}.{minor}" for major, minor in sorted(_catalog())]


def catalogued_minor_for(airflow_version: str) -> str:
    """The catalogued minor whose schema stands for ``airflow_version`` (``"2.11.0"`` -> 2.10)."""
    major, minor = _catalogued_minor(airflow_version)
    return f"{major}.{minor}"


def schema_loss(*, from_airflow: str, to_airflow: str) -> SchemaLoss:
    """Tables and columns present on ``from_airflow`` that moving to ``to_airflow`` drops.

    Empty for an upgrade or a move within one minor. Raises ``ValueError`` for a version
    that cannot be parsed or is older than the oldest catalogued minor (2.3).
    """
    source, target = _catalogued_minor(from_airflow), _catalogued_minor(to_airflow)
    if target >= source:
        return SchemaLoss(tables=(), columns=())
    before, after = _catalog()[source], _catalog()[target]
    renames = {
        new: old
        for minor, names in _RENAMES.items()
        if target < minor <= source
        for new, old in names.items()
        if new in before and old in after
    }
    tables = tuple(
        LostTable(name=table, columns=columns)
        for table, columns in sorted(before.items())
        if table not in after and table not in renames
    )
    renamed_columns = {
        new: old
        for minor, names in _RENAMED_COLUMNS.items()
        if target < minor <= source
        for new, old in names.items()
    }
    columns = tuple(
        LostColumn(table=table, column=column)
        for table, table_columns in sorted(before.items())
        if table in after or table in renames
        for column in table_columns
        if column not in after[renames.get(table, table)]
        and not (table in renames and renamed_columns.get(column) in after[renames[table]])
    )
    renamed = tuple(RenamedTable(name=new, renamed_to=old) for new, old in sorted(renames.items()))
    return SchemaLoss(tables=tables, columns=columns, renamed=renamed)


def renamed_note(loss: SchemaLoss, to_airflow: str) -> str:
    """A sentence naming the tables the downgrade keeps under older names ('' if none)."""
    if not loss.renamed:
        return ""
    kept = ", ".join(f"{r.name} as {r.renamed_to}" for r in loss.renamed)
    count = len(loss.renamed)
    tables = "1 table is" if count == 1 else f"{count} tables are"
    return f" {tables} kept, rows and all, under their Airflow {to_airflow} names ({kept})."
