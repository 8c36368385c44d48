"""``tarmac user create``, ``tarmac token create`` and ``tarmac login``."""

from __future__ import annotations

from typing import Annotated

import typer

from tarmac.cli.context import OutputOption, ServerOption, TokenOption, api_errors, make_client
from tarmac.cli.output import OutputFormat, console, emit

user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


@user_app.command("create")
def create_user(
    username: str,
    system_role: Annotated[str | None, typer.Option("--system-role")] = None,
    password: Annotated[str | None, typer.Option("--password", help="For the web UI.")] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create a user (System Admins only)."""
    body = {"username": username, "system_role": system_role}
    if password:
        body["password"] = password
    with api_errors():
        emit(
            make_client(server, token).post("/api/v1/users", json=body),
            output=output,
            columns=["id", "username", "system_role"],
        )


@token_app.command("create")
def create_token(
    name: Annotated[str, typer.Option("--name")] = "cli",
    user_id: Annotated[str | None, typer.Option("--user", help="Defaults to yourself.")] = None,
    deployment: Annotated[
        str | None,
        typer.Option("--agent-for", help="Make a read-only agent token for this Deployment id."),
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create an API token; it is shown once."""
    with api_errors():
        client = make_client(server, token)
        target = user_id or client.get("/api/v1/users/me")["id"]
        body = {"name": name, "deployment_id": deployment}
        emit(
            client.post(f"/api/v1/users/{target}/tokens", json=body),
            output=output,
            columns=["id", "name", "token"],
        )
    if output is OutputFormat.TABLE:
        console.print("Store the token now: it cannot be shown again.")


def login(
    server: Annotated[str, typer.Option("--server", prompt=True)],
    token: Annotated[str, typer.Option("--token", prompt=True, hide_input=True)],
) -> None:
    """Check a token against a server and remember both for later commands."""
    from tarmac.cli.client import TarmacClient
    from tarmac.cli.config import ClientConfig, save_login

    with api_errors():
        me = TarmacClient(ClientConfig(server=server.rstrip("/"), token=token)).get(
            "/api/v1/users/me"
        )
    path = save_login(server=server, token=token)
    console.print(f"Logged in to {server} as {me['username']}; saved to {path}")
