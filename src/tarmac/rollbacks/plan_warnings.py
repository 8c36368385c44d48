"""The warnings of a rollback plan, and the one that names what a downgrade erases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tarmac.rollbacks.downgrade_risks import downgrade_risks
from tarmac.rollbacks.schema_catalog import SchemaLoss, renamed_note, schema_loss


@dataclass(frozen=True)
class PlanWarning:
    """A consequence the user must see; some must be acknowledged by ``code``."""

    code: str
    message: str
    requires_acknowledgement: bool
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "requires_acknowledgement": self.requires_acknowledgement,
            **self.extra,
        }


def data_loss_warning(
    *,
    from_runtime: str,
    from_airflow: str,
    to_runtime: str,
    to_airflow: str,
    metadata_facts: Mapping[str, Any],
) -> PlanWarning:
    """Rule 11: name exactly what the metadata-DB downgrade erases."""
    step = (
        f"Rolling back from runtime {from_runtime} (Airflow {from_airflow}) to {to_runtime}"
        f" (Airflow {to_airflow}) downgrades the metadata database."
    )
    if not metadata_facts:
        # Nothing has reported running this Deployment's Airflow: say who will downgrade.
        step += (
            " No runtime side has reported for this Deployment: tarmac downgrades (after a"
            " snapshot) only where `tarmac runtime run` runs its Airflow."
        )
    try:
        loss: SchemaLoss | None = schema_loss(from_airflow=from_airflow, to_airflow=to_airflow)
    except ValueError:
        loss = None  # Airflow < 2.3: outside the schema catalog (and refused by rule 5)
    if loss is None:
        detail = (
            f" The schema catalog does not cover Airflow {to_airflow}; data of features it"
            " lacks is erased and cannot be recovered."
        )
    elif loss.tables or loss.columns:
        # Tables by name, columns by count: the message stays readable, the fields are exact.
        erased = []
        if loss.tables:
            names = ", ".join(t.name for t in loss.tables)
            erased.append(f"{_count(len(loss.tables), 'table')} ({names})")
        if loss.columns:
            erased.append(f"{_count(len(loss.columns), 'column')} of other tables")
        detail = (
            f" Data of features Airflow {to_airflow} lacks is erased from the metadata database"
            f" and cannot be recovered: {' and '.join(erased)}."
        )
    else:
        detail = (
            " Per the schema catalog no table or column is dropped, but patch-level migrations"
            " may still change data in the metadata database, which cannot be recovered."
        )
    detail += renamed_note(loss, to_airflow) if loss is not None else ""
    rows = row_counts_of(loss, metadata_facts)
    risks = downgrade_risks(dict(metadata_facts), from_airflow=from_airflow, to_airflow=to_airflow)
    if rows:
        total = sum(rows.values())
        detail += f" The runtime side counted {_count(total, 'row')} in them now."
    elif loss is not None and loss.tables:
        detail += " Row counts are unknown: no runtime side has reported this database."
    detail += "".join(f" {risk.message}" for risk in risks)
    return PlanWarning(
        code="data_loss",
        message=step + detail,
        requires_acknowledgement=True,
        extra={
            "from_airflow": from_airflow,
            "to_airflow": to_airflow,
            "tables": [
                {"name": t.name, "columns": list(t.columns)} for t in (loss.tables if loss else ())
            ],
            "columns": [
                {"table": c.table, "column": c.column} for c in (loss.columns if loss else ())
            ],
            "renamed_tables": [
                {"name": r.name, "renamed_to": r.renamed_to} for r in (loss.renamed if loss else ())
            ],
            "row_counts": rows,
            "row_counts_measured_at": metadata_facts.get("measured_at") if rows else None,
            "downgrade_risks": [
                {"code": r.code, "message": r.message, "rows": r.rows, "repair": r.repair}
                for r in risks
            ],
        },
    )


def row_counts_of(loss: SchemaLoss | None, metadata_facts: Mapping[str, Any]) -> dict[str, int]:
    """Rows now in the tables the downgrade drops, as the runtime side counted them."""
    counts = metadata_facts.get("row_counts") or {}
    if loss is None or not counts:
        return {}
    return {t.name: int(counts[t.name]) for t in loss.tables if t.name in counts}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
