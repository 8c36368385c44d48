"""``tarmac deploys diff NAME A B``: what changes from deploy A to deploy B."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from rich.table import Table

from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
)
from tarmac.cli.output import OutputFormat, console, emit

STATE_FIELDS = ("image", "runtime_version", "airflow_version", "dag_deploy_enabled")


def diff(
    deployment: str,
    a: str,
    b: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Compare two deploys (ids or sequence numbers): code state, DAG files, text diffs."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        result = client.get(
            f"/api/v1/deployments/{deployment_id}/deploys/{a.removeprefix('#')}"
            f"/diff/{b.removeprefix('#')}"
        )
    if output is OutputFormat.JSON:
        emit(result, output=output, columns=[])
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    title = f"Deploy #{result['from']['seq']} → #{result['to']['seq']}"
    table = Table(title=title)
    for column in ("", "from", "to"):
        table.add_column(column)
    for name in STATE_FIELDS:
        pair = result[name]
        mark = "[bold yellow]" if pair["changed"] else ""
        table.add_row(f"{mark}{name}", str(pair["from"]), str(pair["to"]))
    console.print(table)
    files = result["dag_files"]
    for label, colour, paths in (
        ("added", "green", files["added"]),
        ("removed", "red", files["removed"]),
        ("changed", "yellow", files["changed"]),
    ):
        for path in paths:
            console.print(f"[{colour}]{label:8}[/{colour}] {path}", highlight=False)
    for dag_id in result["dag_ids"]["appeared"]:
        console.print(f"[green]DAG +[/green] {dag_id}", highlight=False)
    for dag_id in result["dag_ids"]["disappeared"]:
        console.print(f"[red]DAG -[/red] {dag_id}", highlight=False)
    if not any(files.values()):
        console.print("DAG files: no change")
    for file_diff in result["file_diffs"]:
        if file_diff["binary"]:
            console.print(f"Binary file {file_diff['path']} differs", highlight=False)
        elif file_diff["diff"]:
            console.print(Syntax(file_diff["diff"], "diff", theme="ansi_dark", word_wrap=True))
        if file_diff["truncated"]:
            console.print(f"[dim]{file_diff['path']}: diff truncated (too large)[/dim]")
