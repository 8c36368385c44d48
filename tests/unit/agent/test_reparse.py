"""Which changed files the agent asks Airflow to parse next, and under which names."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tarmac.agent.reparse import ReparseRequests, airflow_lists, sqlalchemy_url


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel_path, text in files.items():
        path = root / rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_only_files_airflow_would_list_are_requested(tmp_path: Path) -> None:
    folder = _tree(
        tmp_path,
        {
            "etl.py": "",
            "packaged.zip": "",
            "sql/query.sql": "",
            "include/helpers.py": "",
            "scratch/draft.py": "",
            "tests/test_etl.py": "",
            ".airflowignore": "scratch\n",
            "tests/.airflowignore": "test_.*\n",
        },
    )
    listed = {
        p
        for p in (
            "etl.py",
            "packaged.zip",
            "sql/query.sql",
            "include/helpers.py",
            "scratch/draft.py",
            "tests/test_etl.py",
            "gone.py",
        )
        if airflow_lists(folder, p, "regexp")
    }
    assert listed == {"etl.py", "packaged.zip", "include/helpers.py"}


def test_glob_syntax_is_airflow_3s_default(tmp_path: Path) -> None:
    folder = _tree(tmp_path, {"a/b.py": "", "c.py": "", ".airflowignore": "a/\n"})
    assert not airflow_lists(folder, "a/b.py", "glob")
    assert airflow_lists(folder, "c.py", "glob")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg2://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("sqlite:////srv/airflow/airflow.db", "sqlite:////srv/airflow/airflow.db"),
    ],
)
def test_airflow_urls_use_a_driver_tarmac_has(url: str, expected: str) -> None:
    if importlib.util.find_spec("psycopg2") is not None:
        expected = url  # Airflow's own driver is there: the URL is used as it is
    assert sqlalchemy_url(url) == expected


def test_a_missing_sqlite_database_is_not_created_and_nothing_is_requested(
    tmp_path: Path,
) -> None:
    database = tmp_path / "airflow.db"
    folder = _tree(tmp_path / "dags", {"etl.py": ""})
    requests = ReparseRequests(database_url=f"sqlite:///{database}", dags_folder=folder)
    assert requests.request(folder, ["etl.py"]) == []
    assert not database.exists()


def test_a_bad_url_is_reported_without_its_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _tree(tmp_path / "dags", {"etl.py": ""})
    requests = ReparseRequests(database_url="not a url:hunter2@", dags_folder=folder)
    assert requests.request(folder, ["etl.py"]) == []
    assert "bad database URL" in caplog.text
    assert "hunter2" not in caplog.text
