"""``tarmac rollback``: preview, confirm each warning, and roll back.

The order is the user's: every check that needs no plan (description, names, ids) first,
then the plan, then the warnings to acknowledge, then the rollback. In JSON mode nothing
prompts: unacknowledged warnings come back as an ``acknowledgement_required`` refusal.
"""

from __future__ import annotations

import shlex
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
    get_deploy,
)
from tarmac.cli.deploys import RECORD_FIELDS, for_people, with_rollback_fields
from tarmac.cli.output import OutputFormat, console, emit_record, print_json
from tarmac.cli.wait import wait_for_truth


def rollback(
    deployment: str,
    deploy: Annotated[
        str | None, typer.Argument(help="Target deploy: #seq, sequence number, id or id prefix.")
    ] = None,
    last_good: Annotated[
        bool,
        typer.Option("--last-good", help="Target the newest good deploy before the live one."),
    ] = False,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="Why (required to roll back).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan only; nothing changes.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Acknowledge every warning.")] = False,
    acknowledge: Annotated[
        list[str] | None,
        typer.Option("--acknowledge", help="Acknowledge one warning by its code (repeatable)."),
    ] = None,
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
    with api_errors():
        if (deploy is None) == (not last_good):
            raise ApiError("give a target deploy or --last-good, not both", code="invalid_request")
        if not dry_run and not (description or "").strip():
            raise ApiError(
                "a description of why is required to roll back (-d/--description)",
                code="description_required",
            )
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        target_id = (
            "last-good"
            if last_good
            else get_deploy(client, deployment_id, str(deploy), deployment=deployment)["id"]
        )
        url = f"/api/v1/deployments/{deployment_id}/deploys/{target_id}/rollback"
        named = list(acknowledge or [])
        plan, marked_bad = _preview(client, url, description, yes=yes, named=named, output=output)
        # Roll back to exactly what was previewed, even if last-good moves meanwhile.
        url = f"/api/v1/deployments/{deployment_id}/deploys/{plan['target_deploy_id']}/rollback"
        if dry_run:
            if output is OutputFormat.JSON:
                print_json({"dry_run": True, "changed": False, "plan": plan})
                return
            show_plan(plan, title=f"Dry run: rolling back to #{plan['target_seq']} would change")
            console.print(
                "[bold]Dry run: nothing changed.[/bold] To roll back, run:\n  "
                + _command(deployment, plan["target_seq"], description),
                highlight=False,
            )
            return
        if output is OutputFormat.TABLE:
            show_plan(plan, title=f"Rolling back to #{plan['target_seq']} changes")
        acknowledged = marked_bad + acknowledgements(plan, yes=yes, named=named, output=output)
        result = with_rollback_fields(
            client.post(
                url,
                json={"description": description, "acknowledge": acknowledged},
                headers={"Idempotency-Key": f"cli-{uuid.uuid4()}"},
            )
        )
        if output is OutputFormat.JSON:
            print_json(result)
        else:
            emit_record(
                {
                    **for_people(result, {plan["target_deploy_id"]: plan["target_seq"]}),
                    "live": result["is_current"],
                },
                output=output,
                fields=RECORD_FIELDS,
                title=f"Rolled back: deploy #{result['seq']} brings back the code of "
                f"#{plan['target_seq']}",
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
    client: TarmacClient,
    url: str,
    description: str | None,
    *,
    yes: bool,
    named: list[str],
    output: OutputFormat,
) -> tuple[dict[str, Any], list[str]]:
    """The dry run's plan; a target marked bad is acknowledged (``marked_bad``) first."""
    body: dict[str, Any] = {"description": description, "dry_run": True}
    try:
        return client.post(url, json=body)["plan"], []
    except ApiError as exc:
        if exc.code != "deploy_marked_bad":
            raise
        if not (yes or "marked_bad" in named):
            if output is OutputFormat.JSON:
                exc.hint = "re-run with --acknowledge marked_bad (or --yes)"
                raise
            mark = (exc.body or {}).get("marked_bad") or {}
            console.print(
                Panel(exc.message, title="deploy_marked_bad", border_style="red"), markup=False
            )
            question = f"Roll back onto a deploy marked bad ({mark.get('reason')})?"
            if not _confirm(question):
                raise ApiError(
                    "not rolled back: marked_bad was not acknowledged; nothing changed",
                    code="deploy_marked_bad",
                ) from None
    return client.post(url, json={**body, "acknowledge": ["marked_bad"]})["plan"], ["marked_bad"]


def _confirm(question: str) -> bool:
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False


def acknowledgements(
    plan: dict[str, Any], *, yes: bool, named: list[str], output: OutputFormat
) -> list[str]:
    """The warning codes to acknowledge: given by flag, or confirmed one by one on a terminal.

    JSON mode refuses instead of prompting; a declined (or unanswered) warning stops here.
    """
    required = [w for w in plan["warnings"] if w.get("requires_acknowledgement")]
    missing = [w for w in required if not yes and w["code"] not in named]
    if missing and output is OutputFormat.JSON:
        codes = [w["code"] for w in missing]
        raise ApiError(
            "not rolled back: these warnings need acknowledging: " + ", ".join(codes),
            code="acknowledgement_required",
            body={"warnings": missing, "plan": plan},
            hint="re-run with " + " ".join(f"--acknowledge {c}" for c in codes) + " (or --yes)",
        )
    for warning in missing:
        if not _confirm(f"Acknowledge {warning['code']} and roll back?"):
            raise ApiError(
                f"not rolled back: {warning['code']} was not acknowledged; nothing changed",
                code="acknowledgement_required",
                body={"warnings": missing},
            )
    return [w["code"] for w in required]


def show_plan(plan: dict[str, Any], *, title: str) -> None:
    """The plan in a form a person can read at 3 a.m."""
    back = plan["rolled_back"]
    table = Table(title=title, show_header=True, title_justify="left")
    for column in ("what", "now", "after the rollback"):
        table.add_column(column)
    table.add_row(*_change("image", back["image"]))
    runtime = back["runtime_version"]
    direction = runtime["direction"]
    table.add_row(
        "runtime",
        str(runtime["from"]),
        "unchanged" if direction == "none" else f"{runtime['to']} ({direction})",
    )
    table.add_row(*_change("DAG deploys", back["dag_deploy_enabled"], render=_on))
    files = back["dag_files"]
    table.add_row(
        "DAG files",
        "",
        f"{len(files['added'])} added, {len(files['removed'])} "
        f"removed, {len(files['changed'])} changed",
    )
    console.print(table)
    for label in ("added", "removed", "changed"):
        for path in files[label][:20]:
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


def _change(label: str, change: dict[str, Any], *, render: Any = str) -> tuple[str, str, str]:
    before, after = change["from"], change["to"]
    return label, render(before), "unchanged" if before == after else render(after)


def _on(value: object) -> str:
    return "on" if value else "off"


def _command(deployment: str, seq: int, description: str | None) -> str:
    why = description or "why you roll back"
    return f"tarmac rollback {shlex.quote(deployment)} '#{seq}' -d {shlex.quote(why)}"
