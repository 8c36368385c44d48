"""DAG ids found statically in DAG files."""

from __future__ import annotations

from tarmac.insight.dag_ids import dag_id_changes, dag_ids_in

SOURCE = b"""
from airflow import DAG
from airflow.decorators import dag
import airflow.models

with DAG("with_positional") as d:
    pass
assigned = DAG(dag_id="assigned", schedule=None)
other = airflow.models.DAG(dag_id="via_module")

@dag(schedule=None)
def decorated():
    pass

@dag(dag_id="explicit_id")
def ignored_name():
    pass

@dag
def bare_decorator():
    pass

for n in range(3):
    DAG(f"dynamic_{n}")
"""


def test_constant_ids_in_every_known_form() -> None:
    assert dag_ids_in(SOURCE) == {
        "with_positional",
        "assigned",
        "via_module",
        "decorated",
        "explicit_id",
        "bare_decorator",
    }


def test_a_file_that_does_not_parse_declares_nothing() -> None:
    assert dag_ids_in(b"def broken(:\n") == set()
    assert dag_ids_in(b"\x00") == set()


def test_a_dag_moved_between_files_neither_appears_nor_disappears() -> None:
    changes = dag_id_changes(
        before={"a.py": b'DAG("moved")\nDAG("dropped")', "big.py": None},
        after={"b.py": b'DAG("moved")\nDAG("new")'},
    )
    assert changes == {"appeared": ["new"], "disappeared": ["dropped"]}
