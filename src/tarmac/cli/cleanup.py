"""``tarmac cleanup-deploy-revisions``: delete old deploy records and unused bundles."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tarmac.cli.context import OutputOption, ServerOption, TokenOption, api_errors, make_client
from tarmac.cli.output import OutputFormat, emit

COLUMNS = [
    "older_than_days",
    "dry_run",
    "deleted_deploys",
    "deleted_blobs",
    "deleted_unpacked_dirs",
    "kept_in_use_bundles",
]


def cleanup_deploy_revisions(
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            min=0,
            help="Delete deploys at least DAYS old (default: olderThan in values.yaml).",
            metavar="DAYS",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted.")
    ] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Delete deploys older than the window (never live or pinned ones) and unused bundles."""
    body: dict[str, Any] = {"dry_run": dry_run}
    if older_than is not None:
        body["older_than_days"] = older_than
    with api_errors():
        report = make_client(server, token).post(
            "/api/v1/admin/cleanup-deploy-revisions", json=body
        )
        emit(report, output=output, columns=COLUMNS, title="Cleanup of deploy revisions")
