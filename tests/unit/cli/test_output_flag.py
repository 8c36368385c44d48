"""Spotting ``--output json`` on a command line before Typer parses it."""

from __future__ import annotations

import pytest

from tarmac.cli.main import asks_for_json


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], False),
        (["deploys", "list"], False),
        (["deploys", "list", "x", "-o", "json"], True),
        (["deploys", "list", "x", "--output", "json"], True),
        (["deploys", "list", "x", "--output=json"], True),
        (["deploys", "list", "x", "-ojson"], True),
        (["deploys", "list", "x", "-o", "table"], False),
        (["deploys", "list", "-o"], False),
        (["deploy", "json"], False),
    ],
)
def test_asks_for_json(argv: list[str], expected: bool) -> None:
    assert asks_for_json(argv) is expected
