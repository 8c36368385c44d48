"""``tarmac runtimes list``: the runtime catalog."""

from __future__ import annotations

import typer

from tarmac.cli.context import OutputOption, ServerOption, TokenOption, api_errors, make_client
from tarmac.cli.output import OutputFormat, emit_list

app = typer.Typer(help="The runtime catalog.", no_args_is_help=True)


@app.command("list")
def list_(
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List runtime versions, their Airflow versions and restrictions."""
    with api_errors():
        emit_list(
            make_client(server, token).get("/api/v1/runtimes")["items"],
            output=output,
            columns=["version", "airflow_version", "restricted", "restricted_reason"],
            title="Runtime versions",
        )
