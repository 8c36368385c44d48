"""``tarmac stats`` and ``tarmac webhooks``: DORA figures and signed webhooks, over the API."""

from __future__ import annotations

from typing import Annotated

import typer

from tarmac.cli.context import (
    OutputOption,
    ServerOption,
    TokenOption,
    api_errors,
    deployment_client,
    make_client,
)
from tarmac.cli.output import OutputFormat, emit

webhooks_app = typer.Typer(help="Signed webhooks of a Deployment.", no_args_is_help=True)

STATS_COLUMNS = [
    "days",
    "deploys",
    "rollbacks",
    "change_failure_rate",
    "median_time_to_restore_seconds",
    "deploy_frequency_per_day",
    "median_lead_time_seconds",
]
WEBHOOK_COLUMNS = ["id", "url", "events", "payload_format", "created_by", "created_at"]
DELIVERY_COLUMNS = ["event_id", "event", "status", "attempts", "response_status", "last_error"]


def stats(
    deployment: Annotated[
        str | None, typer.Argument(help="A Deployment; every one you may read when left out.")
    ] = None,
    days: Annotated[int, typer.Option("--days", help="The last N days (1-365).")] = 30,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Deploy frequency, rollbacks, change failure rate, time to restore, lead time."""
    with api_errors():
        if deployment is None:
            result = make_client(server, token).get("/api/v1/stats", params={"days": days})
        else:
            client, deployment_id = deployment_client(deployment, server=server, token=token)
            result = client.get(f"/api/v1/deployments/{deployment_id}/stats", params={"days": days})
    emit(result, output=output, columns=STATS_COLUMNS)


@webhooks_app.command("add")
def add(
    deployment: str,
    url: str,
    events: Annotated[
        list[str], typer.Option("--event", "-e", help="deploy.created, deploy.rollback, …")
    ],
    secret: Annotated[str, typer.Option("--secret", help="Signs deliveries (HMAC-SHA256).")],
    slack: Annotated[bool, typer.Option("--slack", help="Slack-compatible payload.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Subscribe URL to the Deployment's events."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        body = {
            "url": url,
            "events": events,
            "secret": secret,
            "payload_format": "slack" if slack else "json",
        }
        result = client.post(f"/api/v1/deployments/{deployment_id}/webhooks", json=body)
    emit(result, output=output, columns=WEBHOOK_COLUMNS)


@webhooks_app.command("list")
def list_(
    deployment: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The Deployment's webhooks (secrets are never shown)."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        result = client.get(f"/api/v1/deployments/{deployment_id}/webhooks")
    emit(result["items"], output=output, columns=WEBHOOK_COLUMNS, title="Webhooks")


@webhooks_app.command("deliveries")
def deliveries(
    deployment: str,
    webhook_id: str,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """A webhook's delivery log, newest first: status, attempts, last error."""
    with api_errors():
        client, deployment_id = deployment_client(deployment, server=server, token=token)
        result = client.get(f"/api/v1/deployments/{deployment_id}/webhooks/{webhook_id}/deliveries")
    emit(result["items"], output=output, columns=DELIVERY_COLUMNS, title="Deliveries")
