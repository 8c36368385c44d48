"""``tarmac rollback``: preview, confirm each warning, and roll back."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from tarmac.cli.client import ApiError, TarmacClient
from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
)
from tarmac.cli.deploys import find_deploy
from tarmac.cli.output import OutputFormat, console, emit
from tarmac.cli.wait import wait_for_truth


def rollback(
    deployment: str,
    deploy: Annotated[
        str | None, typer.Argument(help="Target deploy: its id or sequence number.")
    ] = None,
    last_good: Annotated[
        bool,
        typer.Option("--last-good", help="Target the newest good deploy before the live one."),
    ] = False,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="Why (required).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan only.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Acknowledge every warning.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Return only when the runtime runs it healthy.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to --wait before giving up.", min=1)
    ] = 600.0,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Roll a Deployment back to an earlier deploy (or --last-good), as a new deploy."""
    if (deploy is None) == (not last_good):
        raise typer.BadParameter("give a target deploy or --last-good, not both")
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        target_id = (
            "last-good" if last_good else find_deploy(client, deployment_id, str(deploy))["id"]
        )
        url = f"/api/v1/deployments/{deployment_id}/deploys/{target_id}/rollback"
        plan, acknowledged = _preview(client, url, description, assume_yes=yes)
        # Roll back to exactly what was previewed, even if last-good moves meanwhile.
        url = f"/api/v1/deployments/{deployment_id}/deploys/{plan['target_deploy_id']}/rollback"
        if output is OutputFormat.TABLE:
            show_plan(plan)
        if dry_run:
            if output is OutputFormat.JSON:
                emit({"plan": plan}, output=output, columns=[])
            return
        if not description or not description.strip():
            raise ApiError(
                "a description of why is required (-d/--description)", code="description_required"
            )
        acknowledged += confirm_warnings(plan, assume_yes=yes)
        result = client.post(
            url,
            json={"description": description, "acknowledge": acknowledged},
            headers={"Idempotency-Key": f"cli-{uuid.uuid4()}"},
        )
        emit(
            result,
            output=output,
            columns=[
                "seq",
                "id",
                "status",
                "runtime_version",
                "image",
                "bundle_sha256",
                "rollback_from_id",
                "description",
            ],
        )
        if wait:
            wait_for_truth(
                client,
                deployment_id,
                result,
                timeout_seconds=timeout,
                quiet=output is OutputFormat.JSON,
            )


def _preview(
    client: TarmacClient, url: str, description: str | None, *, assume_yes: bool
) -> tuple[dict[str, Any], list[str]]:
    """The dry run's plan; a target marked bad is confirmed (``marked_bad``) first."""
    body: dict[str, Any] = {"description": description, "dry_run": True}
    try:
        return client.post(url, json=body)["plan"], []
    except ApiError as exc:
        if exc.code != "deploy_marked_bad":
            raise
        mark = (exc.body or {}).get("marked_bad") or {}
        console.print(
            Panel(exc.message, title="deploy_marked_bad", border_style="red"), markup=False
        )
        if not assume_yes and not typer.confirm(
            f"Roll back onto a deploy marked bad ({mark.get('reason')})?", default=False
        ):
            console.print("Rollback cancelled; nothing changed.")
            raise typer.Exit(code=1) from None
    return client.post(url, json={**body, "acknowledge": ["marked_bad"]})["plan"], ["marked_bad"]


def confirm_warnings(plan: dict[str, Any], *, assume_yes: bool) -> list[str]:
    """Ask about each warning; any 'no' aborts. Returns the codes to acknowledge."""
    acknowledged = []
    for warning in plan["warnings"]:
        if not warning.get("requires_acknowledgement"):
            continue
        if not assume_yes and not typer.confirm(
            f"{warning['code']}: {warning['message']}\nAcknowledge and continue?", default=False
        ):
            console.print("Rollback cancelled; nothing changed.")
            raise typer.Exit(code=1)
        acknowledged.append(warning["code"])
    return acknowledged


def show_plan(plan: dict[str, Any]) -> None:
    """The plan in a form a person can read at 3 a.m."""
    back = plan["rolled_back"]
    table = Table(title="Rolled back", show_header=True)
    for column in ("what", "now", "after the rollback"):
        table.add_column(column)
    table.add_row("image", str(back["image"]["from"]), str(back["image"]["to"]))
    runtime = back["runtime_version"]
    table.add_row("runtime", str(runtime["from"]), f"{runtime['to']} ({runtime['direction']})")
    table.add_row(
        "DAG deploys",
        _on(back["dag_deploy_enabled"]["from"]),
        _on(back["dag_deploy_enabled"]["to"]),
    )
    files = back["dag_files"]
    table.add_row(
        "DAG files",
        "",
        f"{len(files['added'])} added, {len(files['removed'])} "
        f"removed, {len(files['changed'])} changed",
    )
    console.print(table)
    for label, key in (("added", "added"), ("removed", "removed"), ("changed", "changed")):
        for path in files[key][:20]:
            console.print(f"  {label:8} {path}", highlight=False, markup=False)
    console.print(
        "Kept: resources, executor and scheduler settings, environment variables, "
        "name, description and other settings."
    )
    for warning in plan["warnings"]:
        style = "red" if warning.get("requires_acknowledgement") else "yellow"
        console.print(
            Panel(warning["message"], title=warning["code"], border_style=style), markup=False
        )
    console.print(plan["summary"], markup=False, highlight=False)


def _on(value: object) -> str:
    return "on" if value else "off"
