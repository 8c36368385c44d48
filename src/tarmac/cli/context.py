"""Options every client command shares, and turning API errors into exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from tarmac.cli.client import ApiError, TarmacClient
from tarmac.cli.config import resolve_client_config
from tarmac.cli.output import OutputFormat, errors

ServerOption = Annotated[
    str | None, typer.Option("--server", help="Server URL (else TARMAC_SERVER or login file).")
]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="API token (else TARMAC_TOKEN or login file).")
]
OutputOption = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="table for people, json for scripts.")
]


def make_client(server: str | None, token: str | None) -> TarmacClient:
    return TarmacClient(resolve_client_config(server=server, token=token))


def resolve_deployment_id(client: TarmacClient, ref: str) -> str:
    """Accept a Deployment's id, name or release name."""
    for item in client.get("/api/v1/deployments")["items"]:
        if ref in (item["id"], item["name"], item["release_name"]):
            return str(item["id"])
    return ref  # let the server answer 404 for an unknown id


def deployment_client(
    deployment: str, *, server: str | None, token: str | None
) -> tuple[TarmacClient, str]:
    """A client, and the id of the Deployment named by id, name or release name."""
    client = make_client(server, token)
    return client, resolve_deployment_id(client, deployment)


@contextmanager
def api_errors() -> Iterator[None]:
    """Print an API error's message on stderr and exit non-zero."""
    try:
        yield
    except ApiError as exc:
        errors.print(f"[red]error[/red] ({exc.code}): {exc.message}", highlight=False)
        for item in _listed_errors(exc):  # e.g. dag_import_errors: each file and its error
            errors.print(f"\n[bold]{item.get('file')}[/bold]\n{item.get('error')}", markup=True)
        raise typer.Exit(code=2 if exc.code == "unreachable" else 1) from None


def _listed_errors(exc: ApiError) -> list[dict[str, Any]]:
    body = exc.body if isinstance(exc.body, dict) else {}  # the error object of the envelope
    items = body.get("errors")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def run(action: Callable[[], Any]) -> Any:
    with api_errors():
        return action()
