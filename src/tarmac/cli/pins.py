"""``tarmac deploys pin|unpin DEPLOYMENT DEPLOY``: keep a deploy through cleanups."""

from __future__ import annotations

from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
)
from tarmac.cli.output import OutputFormat, emit

COLUMNS = ["id", "seq", "type", "status", "pinned", "is_current", "created_at", "description"]


def pin(
    deployment: str,
    deploy: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Pin a deploy: cleanup never deletes it, and it stays a rollback target."""
    _set_pin(deployment, deploy, method="PUT", server=server, token=token, output=output)


def unpin(
    deployment: str,
    deploy: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Unpin a deploy: it ages out of the history like any other."""
    _set_pin(deployment, deploy, method="DELETE", server=server, token=token, output=output)


def _set_pin(
    deployment: str,
    deploy: str,
    *,
    method: str,
    server: str | None,
    token: str | None,
    output: OutputFormat,
) -> None:
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        # The server takes a deploy's id or its sequence number.
        path = f"/api/v1/deployments/{deployment_id}/deploys/{deploy.removeprefix('#')}/pin"
        emit(client.request(method, path), output=output, columns=COLUMNS)
