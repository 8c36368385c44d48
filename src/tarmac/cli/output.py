"""Rendering for people (Rich tables) and scripts (``--output json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def emit(
    data: Any, *, output: OutputFormat, columns: Sequence[str], title: str | None = None
) -> None:
    """Print ``data`` (an object or a list of objects) as JSON or as a table of ``columns``."""
    if output is OutputFormat.JSON:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    rows = data if isinstance(data, list) else [data]
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
