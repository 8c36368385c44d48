"""``tarmac deployment …``: create, list, get and update Deployments."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
    make_client,
)
from tarmac.cli.output import OutputFormat, console, emit, emit_list, short_id
from tarmac.cli.safe_ops import hold_line

app = typer.Typer(help="Manage Deployments.", no_args_is_help=True)

COLUMNS = [
    "id",
    "name",
    "release_name",
    "runtime_version",
    "dag_deploy_mode",
    "rollback_enabled",
    "current_deploy_id",
]


def _env_vars(values: list[str] | None, secrets: list[str] | None) -> list[dict[str, Any]] | None:
    if values is None and secrets is None:
        return None
    items = []
    for raw, is_secret in [(v, False) for v in values or []] + [(s, True) for s in secrets or []]:
        key, sep, value = raw.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {raw!r}")
        items.append({"key": key, "value": value, "is_secret": is_secret})
    return items


@app.command("create")
def create(
    name: str,
    runtime_version: Annotated[str, typer.Option("--runtime", help="Runtime version, e.g. 12.4.0")],
    dag_deploy_mode: Annotated[str, typer.Option("--dag-deploy-mode")] = "image",
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    executor: Annotated[str | None, typer.Option("--executor")] = None,
    resources: Annotated[str | None, typer.Option("--resources", help="JSON object")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE")] = None,
    secret_env: Annotated[list[str] | None, typer.Option("--secret-env", help="KEY=VALUE")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create a Deployment."""
    body: dict[str, Any] = {
        "name": name,
        "runtime_version": runtime_version,
        "dag_deploy_mode": dag_deploy_mode,
    }
    if description is not None:
        body["description"] = description
    if executor is not None:
        body["executor"] = executor
    if resources is not None:
        body["resources"] = json.loads(resources)
    env_vars = _env_vars(env, secret_env)
    if env_vars is not None:
        body["env_vars"] = env_vars
    with api_errors():
        emit(
            make_client(server, token).post("/api/v1/deployments", json=body),
            output=output,
            columns=COLUMNS,
        )


@app.command("list")
def list_(
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the Deployments you can see."""
    with api_errors():
        items = make_client(server, token).get("/api/v1/deployments")["items"]
        rows = [
            {
                "name": d["name"],
                "id": short_id(d["id"]),
                "runtime": d["runtime_version"],
                "DAG deploy mode": d["dag_deploy_mode"],
                "rollbacks": "on" if d["rollback_enabled"] else "off",
                "live deploy": short_id(d["current_deploy_id"]),
            }
            for d in items
        ]
        emit_list(
            rows,
            output=output,
            columns=["name", "id", "runtime", "DAG deploy mode", "rollbacks", "live deploy"],
            title="Deployments",
            json_items=items,
        )


@app.command("get")
def get(
    deployment: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show one Deployment (by id, name or release name)."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        found = client.get(f"/api/v1/deployments/{deployment_id}")
        emit(
            found,
            output=output,
            columns=[*COLUMNS, "airflow_version", "executor", "description"],
        )
        if output is OutputFormat.TABLE:
            console.print(hold_line(found), markup=False, highlight=False)


@app.command("update")
def update(
    deployment: str,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    executor: Annotated[str | None, typer.Option("--executor")] = None,
    resources: Annotated[str | None, typer.Option("--resources", help="JSON object")] = None,
    rollback: Annotated[
        bool | None,
        typer.Option("--rollback/--no-rollback", help="Switch Rollback Deploy on or off."),
    ] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE (replaces all)")] = None,
    secret_env: Annotated[list[str] | None, typer.Option("--secret-env")] = None,
    hold: Annotated[
        bool | None, typer.Option("--hold/--no-hold", help="Hold after each rollback.")
    ] = None,
    auto_rollback: Annotated[
        bool | None,
        typer.Option("--auto-rollback/--no-auto-rollback", help="Automatic rollback."),
    ] = None,
    auto_rollback_window: Annotated[
        int | None, typer.Option("--auto-rollback-window", help="Seconds after a deploy.")
    ] = None,
    freeze_windows: Annotated[
        str | None,
        typer.Option("--freeze-windows", help='JSON list of {"start","end","reason","repeat"}'),
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Change a Deployment's settings."""
    body: dict[str, Any] = {}
    for key, value in (
        ("name", name),
        ("description", description),
        ("executor", executor),
        ("rollback_enabled", rollback),
        ("rollback_hold_enabled", hold),
        ("auto_rollback_enabled", auto_rollback),
        ("auto_rollback_window_seconds", auto_rollback_window),
    ):
        if value is not None:
            body[key] = value
    if freeze_windows is not None:
        try:
            body["freeze_windows"] = json.loads(freeze_windows)
        except ValueError as exc:
            raise typer.BadParameter(f"--freeze-windows is not JSON: {exc}") from None
    if resources is not None:
        body["resources"] = json.loads(resources)
    env_vars = _env_vars(env, secret_env)
    if env_vars is not None:
        body["env_vars"] = env_vars
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        emit(
            client.patch(f"/api/v1/deployments/{deployment_id}", json=body),
            output=output,
            columns=COLUMNS,
        )


@app.command("member")
def member(
    deployment: str,
    user_id: str,
    role: Annotated[str, typer.Option("--role", help="DEPLOYMENT_ADMIN|EDITOR|VIEWER")],
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Give a user a role on a Deployment."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        emit(
            client.put(
                f"/api/v1/deployments/{deployment_id}/members/{user_id}", json={"role": role}
            ),
            output=output,
            columns=["deployment_id", "user_id", "role"],
        )
