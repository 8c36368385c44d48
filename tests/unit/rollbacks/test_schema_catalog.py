"""The shipped Airflow schema catalog: which tables and columns a downgrade erases."""

from __future__ import annotations

import pytest

from tarmac.rollbacks.schema_catalog import (
    LostColumn,
    SchemaLoss,
    catalogued_minor_for,
    catalogued_minors,
    schema_loss,
)

NOTHING = SchemaLoss(tables=(), columns=())


def lost_tables(*, from_airflow: str, to_airflow: str) -> set[str]:
    loss = schema_loss(from_airflow=from_airflow, to_airflow=to_airflow)
    return {table.name for table in loss.tables}


def test_catalog_covers_every_supported_minor_oldest_first() -> None:
    assert catalogued_minors() == [
        "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "3.0", "3.1",
    ]  # fmt: skip


def test_3_1_to_2_10_loses_the_airflow_3_tables() -> None:
    lost = lost_tables(from_airflow="3.1.8", to_airflow="2.10.5")

    assert {
        "asset_active",
        "backfill",
        "backfill_dag_run",
        "dag_version",
        "dag_bundle",
        "deadline",
        "hitl_detail",
        "dag_favorite",
        "team",
    } <= lost
    assert not {"dag", "dag_run", "task_instance", "xcom", "dataset"} & lost


def test_the_asset_tables_are_renamed_back_to_dataset_not_lost() -> None:
    """Airflow 3.0 renamed the dataset tables; its downgrade renames them back, rows and all
    (seen on a real 3.1.8 -> 2.10.5 downgrade: asset_event's rows are in dataset_event)."""
    loss = schema_loss(from_airflow="3.1.8", to_airflow="2.10.5")

    renamed = {r.name: r.renamed_to for r in loss.renamed}
    assert renamed["asset"] == "dataset"
    assert renamed["asset_event"] == "dataset_event"
    assert renamed["dagrun_asset_event"] == "dagrun_dataset_event"
    assert not set(renamed) & {t.name for t in loss.tables}
    # What the older table lacks is still lost; a renamed column (asset_id) is not.
    lost_columns = {(c.table, c.column) for c in loss.columns}
    assert {("asset", "name"), ("asset", "group")} <= lost_columns
    assert ("asset_event", "asset_id") not in lost_columns
    assert schema_loss(from_airflow="3.1.8", to_airflow="3.0.6").renamed == ()


def test_3_1_to_3_0_loses_only_the_3_1_tables() -> None:
    lost = lost_tables(from_airflow="3.1.0", to_airflow="3.0.6")

    assert {"hitl_detail", "dag_favorite", "team"} <= lost
    assert "asset" not in lost


def test_a_lost_table_carries_its_columns() -> None:
    loss = schema_loss(from_airflow="3.0.0", to_airflow="2.10.5")

    backfill = next(table for table in loss.tables if table.name == "backfill")
    assert {"id", "dag_id", "from_date", "to_date"} <= set(backfill.columns)
    assert list(backfill.columns) == sorted(backfill.columns)


def test_columns_lost_from_surviving_tables_are_listed() -> None:
    loss = schema_loss(from_airflow="3.0.6", to_airflow="2.10.5")

    assert LostColumn(table="dag_run", column="backfill_id") in loss.columns
    assert all(column.table not in {t.name for t in loss.tables} for column in loss.columns)


def test_2_4_to_2_3_loses_the_dataset_tables() -> None:
    assert lost_tables(from_airflow="2.4.3", to_airflow="2.3.4") == {
        "dataset",
        "dataset_dag_run_queue",
        "dataset_event",
        "dag_schedule_dataset_reference",
        "dagrun_dataset_event",
        "task_outlet_dataset_reference",
        "dag_owner_attributes",
        "dag_warning",
    }


def test_2_5_to_2_4_loses_the_notes() -> None:
    lost = lost_tables(from_airflow="2.5.0", to_airflow="2.4.0")

    assert lost == {"dag_run_note", "task_instance_note"}


@pytest.mark.parametrize(
    ("from_airflow", "to_airflow"),
    [("2.3.0", "3.1.8"), ("2.10.5", "3.0.0"), ("3.0.6", "3.1.0"), ("2.4.3", "2.5.0")],
)
def test_an_upgrade_loses_nothing(from_airflow: str, to_airflow: str) -> None:
    assert schema_loss(from_airflow=from_airflow, to_airflow=to_airflow) == NOTHING


@pytest.mark.parametrize(
    ("from_airflow", "to_airflow"),
    [("2.10.5", "2.10.0"), ("3.1.8", "3.1.0"), ("2.3.4", "2.3.0"), ("3.0.6", "3.0.6")],
)
def test_a_move_within_one_minor_loses_nothing(from_airflow: str, to_airflow: str) -> None:
    assert schema_loss(from_airflow=from_airflow, to_airflow=to_airflow) == NOTHING


def test_an_uncatalogued_version_reads_as_the_nearest_catalogued_minor_below() -> None:
    assert catalogued_minor_for("2.11.0") == "2.10"
    assert catalogued_minor_for("3.3.2") == "3.1"
    assert schema_loss(from_airflow="2.11.0", to_airflow="2.10.5") == NOTHING
    assert schema_loss(from_airflow="3.3.0", to_airflow="2.10.5") == schema_loss(
        from_airflow="3.1.8", to_airflow="2.10.5"
    )


@pytest.mark.parametrize(
    ("from_airflow", "to_airflow"),
    [("2.2.5", "2.2.0"), ("2.10.5", "2.2.5"), ("2.2.0", "2.10.5"), ("1.10.15", "2.3.0")],
)
def test_a_version_below_2_3_is_refused(from_airflow: str, to_airflow: str) -> None:
    with pytest.raises(ValueError, match="older than the schema catalog covers"):
        schema_loss(from_airflow=from_airflow, to_airflow=to_airflow)


@pytest.mark.parametrize("version", ["", "latest", "3", "x.y.z"])
def test_an_unparseable_version_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="not an Airflow version"):
        schema_loss(from_airflow=version, to_airflow="2.10.5")
