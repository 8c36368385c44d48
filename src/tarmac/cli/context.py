"""Options every client command shares, finding what a user names, and rendering refusals."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape

from tarmac.cli.client import ApiError, TarmacClient
from tarmac.cli.config import resolve_client_config
from tarmac.cli.output import OutputFormat, current_output, errors, print_json, remember_output

ServerOption = Annotated[
    str | None, typer.Option("--server", help="Server URL (else TARMAC_SERVER or login file).")
]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="API token (else TARMAC_TOKEN or login file).")
]
OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output",
        "-o",
        help="table for people; json for scripts (one JSON document, never a prompt).",
        callback=remember_output,
    ),
]

MIN_ID_PREFIX = 4

# What to run next, for refusals whose next step does not depend on the request.
NEXT_STEP = {
    "unknown_runtime_version": "see the runtime catalog: tarmac runtimes list",
    "unauthenticated": "log in: tarmac login --server URL --token TOKEN (or set TARMAC_TOKEN)",
    "unreachable": "start a server (tarmac server or tarmac demo), or check --server",
    "rollback_not_enabled": "switch it on: tarmac deployment update DEPLOYMENT --rollback",
    "description_required": 'say why with -d "…"',
}


def make_client(server: str | None, token: str | None) -> TarmacClient:
    return TarmacClient(resolve_client_config(server=server, token=token))


def resolve_deployment_id(client: TarmacClient, ref: str) -> str:
    """A Deployment's id from its id, name, release name or a unique id prefix."""
    items = client.get("/api/v1/deployments")["items"]
    for match in (
        lambda d: ref in (d["id"], d["name"], d["release_name"]),
        lambda d: ref.casefold() in (d["name"].casefold(), d["release_name"].casefold()),
        lambda d: len(ref) >= MIN_ID_PREFIX and d["id"].startswith(ref.lower()),
    ):
        found = [d for d in items if match(d)]
        if len(found) == 1:
            return str(found[0]["id"])
        if len(found) > 1:
            raise ApiError(
                f"{ref!r} matches {len(found)} Deployments; give more of the id or the full name",
                code="invalid_request",
                hint="tarmac deployment list",
            )
    names = [d["name"] for d in items]
    close = (
        difflib.get_close_matches(ref, names, n=3, cutoff=0.5)
        or [n for n in names if ref.casefold() in n.casefold()][:3]
    )
    message = f"no Deployment named {ref!r}"
    if close:
        message += "; did you mean " + " or ".join(repr(n) for n in close) + "?"
    return _raise_not_found(message, hint="see them all: tarmac deployment list")


def _raise_not_found(message: str, *, hint: str) -> str:
    raise ApiError(message, code="not_found", status=404, hint=hint)


def deployment_client(
    deployment: str, *, server: str | None, token: str | None
) -> tuple[TarmacClient, str]:
    """A client, and the id of the Deployment named by id, name or release name."""
    client = make_client(server, token)
    return client, resolve_deployment_id(client, deployment)


def get_deploy(client: TarmacClient, deployment_id: str, ref: str, *, deployment: str) -> Any:
    """A deploy by ``#seq``, sequence number, id or id prefix; a 404 says where to look."""
    try:
        return client.get(
            f"/api/v1/deployments/{deployment_id}/deploys/{ref.strip().removeprefix('#')}"
        )
    except ApiError as exc:
        if exc.code == "not_found":
            exc.hint = f"see the history: tarmac deploys list {shlex.quote(deployment)}"
        raise


def error_document(exc: ApiError) -> dict[str, Any]:
    """A refusal as the one JSON error shape: the server's body plus the next step."""
    body = dict(exc.body) if isinstance(exc.body, dict) else {}
    body.update(code=exc.code, message=exc.message)
    hint = exc.hint or NEXT_STEP.get(exc.code)
    if hint:
        body["hint"] = hint
    return {"error": body}


@contextmanager
def api_errors() -> Iterator[None]:
    """Render a refusal (stderr for people, one JSON object on stdout) and exit non-zero."""
    try:
        yield
    except ApiError as exc:
        document = error_document(exc)
        if current_output() is OutputFormat.JSON:
            print_json(document)  # the whole error object, "errors" lists included
        else:
            errors.print(f"[red]error[/red] ({exc.code}): {escape(exc.message)}", highlight=False)
            for item in _listed_errors(exc):  # e.g. dag_import_errors: each file and its error
                errors.print(f"\n[bold]{escape(str(item.get('file')))}[/bold]")
                errors.print(str(item.get("error")), markup=False, highlight=False)
            if "hint" in document["error"]:
                errors.print(f"  next: {escape(document['error']['hint'])}", highlight=False)
        raise typer.Exit(code=2 if exc.code == "unreachable" else 1) from None


def _listed_errors(exc: ApiError) -> list[dict[str, Any]]:
    body = exc.body if isinstance(exc.body, dict) else {}  # the error object of the envelope
    items = body.get("errors")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
