"""Rendering for people (Rich tables) and scripts (``--output json``).

Every command renders through these functions, so the two promises hold everywhere:
in JSON mode stdout carries exactly one JSON document (a list is always
``{"items": [...]}``, a refusal is ``{"error": {...}}``), and nothing else is printed to
stdout; in table mode an object is a vertical record and a list is a table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


NARROW_TERMINAL = 120


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


_chosen_output: ContextVar[OutputFormat] = ContextVar("tarmac_output", default=OutputFormat.TABLE)


def remember_output(value: OutputFormat | str | None) -> OutputFormat:
    """``--output``'s callback (run for every command that has it): errors look it up."""
    chosen = OutputFormat(value or OutputFormat.TABLE)
    _chosen_output.set(chosen)
    return chosen


def current_output() -> OutputFormat:
    """The ``--output`` of the command running now (table for commands without one)."""
    return _chosen_output.get()


def print_json(document: Any) -> None:
    """The one way a JSON document reaches stdout."""
    typer.echo(json.dumps(document, indent=2, sort_keys=True, default=str))


def emit(
    data: Any, *, output: OutputFormat, columns: Sequence[str], title: str | None = None
) -> None:
    """Print an object (as a record) or a list (as a table) of ``columns``, or as JSON."""
    if isinstance(data, list):
        emit_list(data, output=output, columns=columns, title=title)
    else:
        emit_record(data, output=output, fields=columns, title=title)


def emit_list(
    items: Sequence[Mapping[str, Any]],
    *,
    output: OutputFormat,
    columns: Sequence[str],
    title: str | None = None,
    json_items: Sequence[Any] | None = None,
    narrow_columns: Sequence[str] | None = None,
) -> None:
    """A list: ``{"items": [...]}`` in JSON (``json_items`` if the table rows differ).

    On a terminal narrower than 120 columns the table keeps ``narrow_columns`` only; every
    column but the last stays on one line, so the last (a description) takes the wrapping.
    """
    if output is OutputFormat.JSON:
        print_json({"items": list(items if json_items is None else json_items)})
        return
    if narrow_columns is not None and console.width < NARROW_TERMINAL:
        columns = narrow_columns
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, no_wrap=index < len(columns) - 1)
    for row in items:
        table.add_row(*(cell(row.get(column)) for column in columns))
    console.print(table)
    if not items:
        console.print("(none)")


def emit_record(
    record: Mapping[str, Any],
    *,
    output: OutputFormat,
    fields: Sequence[str],
    title: str | None = None,
) -> None:
    """One object: the whole object in JSON, ``field  value`` lines for people."""
    if output is OutputFormat.JSON:
        print_json(record)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for field in fields:
        grid.add_row(field, cell(record.get(field)))
    if title:
        console.print(f"[bold]{title}[/bold]", highlight=False)
    console.print(grid)


def say(message: str, *, output: OutputFormat) -> None:
    """A line for people; nothing in JSON mode, so stdout stays one document."""
    if output is OutputFormat.TABLE:
        console.print(message, highlight=False)


def short_id(value: Any) -> str | None:
    """The first 8 characters of an id: what tables print, and what every command accepts."""
    return str(value)[:8] if value else None


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
