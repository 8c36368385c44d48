"""The import gate's decision: only errors the live deploy does not have block."""

from __future__ import annotations

import pytest

from tarmac.errors import DagImportErrors
from tarmac.import_checks.checker import Skipped
from tarmac.import_checks.gate import CheckStatus, DagImportCheck, decide
from tarmac.import_checks.reports import ImportReport, error_lines

TRACEBACK = (
    "Traceback (most recent call last):\n"
    + "".join(f'  File "ml.py", line {n}\n' for n in range(20))
    + "ModuleNotFoundError: No module named 'x'\n"
)


def _report(**errors: str) -> ImportReport:
    return ImportReport(airflow_version="2.10.5", dags={"etl": "etl.py"}, errors=errors)


def test_new_errors_refuse_with_the_file_and_the_end_of_its_traceback() -> None:
    with pytest.raises(DagImportErrors) as refused:
        decide(
            mode=DagImportCheck.BLOCK,
            checked=_report(**{"ml.py": TRACEBACK}),
            baseline=_report(),
            allow_import_errors=False,
        )
    details = refused.value.details
    assert details["errors"][0]["file"] == "ml.py"
    assert details["errors"][0]["error"].endswith("No module named 'x'")
    assert len(details["errors"][0]["error"].splitlines()) == 8
    assert refused.value.code == "dag_import_errors" and refused.value.status == 409


def test_errors_the_live_deploy_has_already_pass() -> None:
    result = decide(
        mode=DagImportCheck.BLOCK,
        checked=_report(**{"ml.py": TRACEBACK}),
        baseline=_report(**{"ml.py": "older error"}),
        allow_import_errors=False,
    )
    assert result.status is CheckStatus.PASSED
    assert result.to_json()["errors"][0]["file"] == "ml.py"
    assert result.dags == {"etl": "etl.py"}


@pytest.mark.parametrize(
    ("mode", "allow", "status"),
    [
        (DagImportCheck.WARN, False, CheckStatus.WARNED),
        (DagImportCheck.BLOCK, True, CheckStatus.ALLOWED),
        (DagImportCheck.WARN, True, CheckStatus.ALLOWED),
    ],
)
def test_warn_mode_and_the_override_record_instead_of_refusing(
    mode: DagImportCheck, allow: bool, status: CheckStatus
) -> None:
    result = decide(
        mode=mode, checked=_report(**{"ml.py": TRACEBACK}), baseline=None, allow_import_errors=allow
    )
    assert result.status is status
    assert result.new_errors == ("ml.py",)


def test_off_checks_nothing_and_a_skipped_check_says_why() -> None:
    off = decide(mode=DagImportCheck.OFF, checked=None, baseline=None, allow_import_errors=False)
    assert off.status is CheckStatus.OFF
    skipped = decide(
        mode=DagImportCheck.BLOCK,
        checked=Skipped("no Airflow 2.10.5 environment"),
        baseline=None,
        allow_import_errors=False,
    )
    assert skipped.status is CheckStatus.SKIPPED
    assert skipped.to_json()["reason"] == "no Airflow 2.10.5 environment"


def test_error_lines_keep_the_telling_end() -> None:
    assert error_lines("a\n\nb\nc\n", lines=2) == "b\nc"
