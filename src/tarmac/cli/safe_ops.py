"""``tarmac hold clear``, ``tarmac deploys mark-bad|unmark-bad``, and ``--wait`` for the truth."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
    get_deploy,
)
from tarmac.cli.output import OutputFormat, console, emit

hold_app = typer.Typer(help="The hold a rollback leaves on its Deployment.", no_args_is_help=True)

ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why (required).")]


@hold_app.command("clear")
def clear(
    deployment: str,
    reason: ReasonOption,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Clear the hold so plain deploys are accepted again."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        result = client.request(
            "DELETE", f"/api/v1/deployments/{deployment_id}/hold", json={"reason": reason}
        )
        if output is OutputFormat.JSON:
            emit(result, output=output, columns=[])
        else:
            console.print(f"Hold cleared on {result['name']}.", markup=False, highlight=False)


@hold_app.command("show")
def show(
    deployment: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show whether the Deployment is held, by which rollback, who and why."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        found = client.get(f"/api/v1/deployments/{deployment_id}")
        if output is OutputFormat.JSON:
            emit({"hold": found["hold"]}, output=output, columns=[])
            return
        console.print(hold_line(found), markup=False, highlight=False)


def hold_line(deployment: dict[str, Any]) -> str:
    hold = deployment.get("hold")
    if not hold:
        return f"{deployment['name']}: not held."
    return (
        f"{deployment['name']}: HELD since {hold['set_at'][:19].replace('T', ' ')} by"
        f" {hold['set_by']} (deploy {hold['deploy_id']}): {hold['reason']}."
        " Plain deploys are refused until `tarmac hold clear` or --clear-hold."
    )


def mark_bad(
    deployment: str,
    deploy: str,
    reason: ReasonOption,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Mark a deploy bad: rolling back onto it then needs --acknowledge of marked_bad."""
    _mark(deployment, deploy, reason, server=server, token=token, output=output, bad=True)


def unmark_bad(
    deployment: str,
    deploy: str,
    reason: ReasonOption,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Take the bad mark off a deploy."""
    _mark(deployment, deploy, reason, server=server, token=token, output=output, bad=False)


def _mark(
    deployment: str,
    deploy: str,
    reason: str,
    *,
    server: str | None,
    token: str | None,
    output: OutputFormat,
    bad: bool,
) -> None:
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        target = get_deploy(client, deployment_id, deploy, deployment=deployment)
        result = client.request(
            "POST" if bad else "DELETE",
            f"/api/v1/deployments/{deployment_id}/deploys/{target['id']}/mark-bad",
            json={"reason": reason},
        )
        emit(result, output=output, columns=["seq", "id", "status", "marked_bad"])
